"""The common shape of a rule, run as Python closures: CEL's semantics without its per-call cost.

The Rust CEL engine runs a compiled condition in about 0.2 µs, but handing it an event's values
costs about 0.7 µs per value (each is converted to a CEL value): 15 values for 20 rules cost
more than the rules. Most rules a fraud team writes are comparisons of a name with a literal,
list memberships, ``!``, ``&&``, ``||`` and parentheses. Such a condition is parsed with
cel-python's CEL grammar (:mod:`celpy`) and turned into nested Python closures over the
event's values; any other condition (arithmetic, functions, macros, ternaries) returns None and
runs on the CEL engine.

The closures keep CEL's meaning for that subset, given what the rule set checks before: every
name the condition reads is present (else the rule does not match), names have the kind's
types, and comparisons are between numbers (int or double, compared by value), between
strings, or between bools (any other pairing returns None: the CEL engine decides). A property
test holds the closures to the CEL engine on random conditions and values, boundaries included.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["compile_fast"]

Fast = Callable[[Mapping[str, Any]], Any]

_COMPARE = {
    "relation_lt": operator.lt,
    "relation_le": operator.le,
    "relation_gt": operator.gt,
    "relation_ge": operator.ge,
    "relation_eq": operator.eq,
    "relation_ne": operator.ne,
}
#: Pass-through levels of CEL's grammar: one child, the same value.
_WRAPPERS = {"expr", "conditionalor", "conditionaland", "relation", "addition",
             "multiplication", "unary", "member", "primary", "paren_expr"}  # fmt: skip
_NUMBER = (int, float)


class _Unsupported(Exception):
    pass


def compile_fast(source: str, types: Mapping[str, type]) -> Fast | None:
    """Closures for ``source`` if it is in the supported subset, else None."""
    try:
        from celpy.celparser import CELParser

        tree = CELParser().parse(source)
        fn, kind = _node(tree, types)
    except _Unsupported:
        return None
    except Exception:  # any disagreement with the parser leaves the rule to the CEL engine
        return None
    return fn if kind is bool else None


def _node(tree: Any, types: Mapping[str, type]) -> tuple[Fast, type]:
    from lark import Token

    if isinstance(tree, Token):
        raise _Unsupported
    data, kids = tree.data, tree.children
    if data in _WRAPPERS and len(kids) == 1:
        return _node(kids[0], types)
    if data in ("conditionalor", "conditionaland") and len(kids) == 2:
        (a, ta), (b, tb) = _node(kids[0], types), _node(kids[1], types)
        if ta is not bool or tb is not bool:
            raise _Unsupported
        if data == "conditionalor":
            return (lambda v: a(v) or b(v)), bool
        return (lambda v: a(v) and b(v)), bool
    if data == "relation" and len(kids) == 2 and getattr(kids[0], "data", None) in _COMPARE:
        # relation -> (relation_<op> -> left relation), right addition
        op_node = kids[0]
        (a, ta), (b, tb) = _node(op_node.children[0], types), _node(kids[1], types)
        numbers = ta in _NUMBER and tb in _NUMBER
        if not (numbers or ta is tb) or (ta not in (*_NUMBER, str, bool)):
            raise _Unsupported
        if op_node.data not in ("relation_eq", "relation_ne") and ta is bool:
            raise _Unsupported  # ordering bools: leave it to the engine
        op = _COMPARE[op_node.data]
        left, right = _name_or_value(op_node.children[0]), _name_or_value(kids[1])
        # The usual shape, a name against a literal, in one closure (no nested calls).
        if left is not None and right is not None:
            if left[0] == "name" and right[0] == "value":
                n, c = left[1], right[1]
                return (lambda v: op(v[n], c)), bool
            if left[0] == "value" and right[0] == "name":
                c, n = left[1], right[1]
                return (lambda v: op(c, v[n])), bool
        return (lambda v: op(a(v), b(v))), bool
    if data == "unary" and len(kids) == 2 and getattr(kids[0], "data", None) == "unary_not":
        a, ta = _node(kids[1], types)
        if ta is not bool:
            raise _Unsupported
        return (lambda v: not a(v)), bool
    if data == "member_dot" and len(kids) == 2:
        base, name = kids
        if _name_or_value(base) != ("name", "lists") or not isinstance(name, Token):
            raise _Unsupported
        key = f"lists.{name}"
        return (lambda v: v[key]), bool
    if data == "ident" and len(kids) == 1:
        name = str(kids[0])
        if name not in types:
            raise _Unsupported
        return (lambda v: v[name]), types[name]
    if data == "literal" and len(kids) == 1:
        return _literal(kids[0])
    raise _Unsupported


def _name_or_value(tree: Any) -> tuple[str, Any] | None:
    """("name", n) for an identifier, ("value", x) for a supported literal, else None."""
    while getattr(tree, "data", None) in _WRAPPERS and len(tree.children) == 1:
        tree = tree.children[0]
    data = getattr(tree, "data", None)
    if data == "ident":
        return ("name", str(tree.children[0]))
    if data == "literal":
        try:
            fn, _ = _literal(tree.children[0])
        except _Unsupported:
            return None
        return ("value", fn({}))
    return None


def _literal(token: Any) -> tuple[Fast, type]:
    kind, text = token.type, str(token.value)
    value: Any
    if kind == "INT_LIT":
        value = int(text, 16) if text.lower().lstrip("-").startswith("0x") else int(text)
    elif kind == "FLOAT_LIT":
        value = float(text)
    elif kind == "BOOL_LIT":
        value = text == "true"
    elif kind == "STRING_LIT" and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        body = text[1:-1]
        if "\\" in body or text[:3] in ("'''", '"""'):
            raise _Unsupported  # escapes and raw or triple-quoted strings: the engine's
        value = body
    else:
        raise _Unsupported  # uint, bytes, null, raw strings
    return (lambda v: value), type(value)
