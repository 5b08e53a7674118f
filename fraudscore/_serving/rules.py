"""Rules and lists over the model: the fraud team's fast lever.

A rules file (TOML) holds an ordered list of rules for one kind. Each rule has an action of
the kind (approve / review / decline; allow / challenge / deny), a condition written in CEL,
the Common Expression Language of Kubernetes and Envoy policies, and a reason code and text::

    kind = "transaction"
    mode = "first"                      # or "all"

    [lists.compromised_terminals]
    file = "lists/compromised_terminals.txt"
    match = "terminal_id"

    [[rules]]
    name = "compromised_terminal"
    action = "decline"
    when = "lists.compromised_terminals && amount > 1.0"
    reason = "COMPROMISED_TERMINAL"
    text = "terminal {terminal_id} is on the known-compromised list"

A condition reads the event's fields, ``score`` (the model's) and every model feature by
name, and ``lists.<name>``: whether the event is on that list. CEL runs in Rust
(``common-expression-language``): no ``eval``, no loops, no side effects. Every rule is
compiled once, when the file is loaded; a syntax error, an unknown name or list, or a type
mismatch (found by running the rule on typed samples) refuses the file, naming the rule, the
position and the names that exist.

**Missing values.** A rule that reads a field the event does not carry (``device_id`` of a
transaction without one), a feature with no value (no history: NaN), or a list keyed on a
missing field does not match, as in Stripe Radar; it never raises.

**Decisions.** An approve (allow) rule approves whatever the model said: an allow list. A
review or decline rule raises the decision to its action and never lowers the model's.

**Order.** ``first`` (default): the first matching rule, in file order, decides; later rules
are not evaluated. ``all``: every rule is evaluated; the most severe matching action decides
(the first rule with it is named), and every match is listed. A ``shadow = true`` rule is
always evaluated and recorded beside the result, and never decides.
"""

from __future__ import annotations

import dataclasses
import math
import re
import string
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudscore._errors import ConfigError, RulesError
from fraudscore._kinds import EventKind, kind_spec
from fraudscore._serving.fastpath import compile_fast
from fraudscore._serving.lists import LIST_TYPES, ListSpec, Matcher, read_list

__all__ = ["Rule", "RuleSet", "Verdict", "load_rules", "starter_rules"]

MODES = ("first", "all")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CODE = re.compile(r"[A-Z][A-Z0-9_]*\Z")
_LIST_REF = re.compile(r"\blists\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_RULE_KEYS = {"name", "action", "when", "reason", "text", "shadow"}
_LIST_KEYS = {"file", "match", "type"}
#: CEL's errors while running a compiled program: a type with no such overload, a division by
#: zero, an undefined function.
_EVAL_ERRORS = (RuntimeError, TypeError, ValueError, ZeroDivisionError, OverflowError)


@dataclass(frozen=True)
class Rule:
    """One rule as written: its name, action, CEL condition, reason code and text."""

    name: str
    action: str
    when: str
    reason: str
    text: str
    shadow: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rules said about one event: the deciding rule (or None), every live rule that
    matched, and the shadow rules that matched."""

    rule: Rule | None
    matched: tuple[str, ...]
    shadow: tuple[str, ...]
    #: The deciding rule's text, filled with the event's values.
    text: str = ""


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    program: Any
    #: Every name (and ``lists.<name>``) the condition reads: all present, or no match.
    needs: frozenset[str]
    severity: int
    #: The condition as Python closures when it is in the common subset (``fastpath``).
    fast: Any = None


class RuleSet:
    """A compiled rules file of one kind, with its lists (reloadable while scoring runs)."""

    def __init__(
        self,
        kind: str | EventKind,
        rules: Sequence[Rule],
        *,
        mode: str = "first",
        lists: Sequence[ListSpec] = (),
        where: str = "rules",
    ) -> None:
        self.kind = kind if isinstance(kind, EventKind) else kind_spec(kind, where=where)
        if mode not in MODES:
            raise RulesError(f"{where}: mode {mode!r} is not one of {list(MODES)}")
        self.mode = mode
        self.where = where
        self.list_specs = {spec.name: spec for spec in lists}
        self.variables = variables(self.kind)
        for spec in lists:
            unknown = [f for f in spec.fields if f not in self.variables or f in _features(self)]
            if unknown or not spec.fields:
                raise RulesError(
                    f"{where}: list {spec.name!r} matches {list(spec.fields)}; it matches event "
                    f"fields, one of {sorted(_fields(self.kind))}"
                )
            if spec.type not in LIST_TYPES:
                raise RulesError(
                    f"{where}: list {spec.name!r} type {spec.type!r} is not one of "
                    f"{list(LIST_TYPES)}"
                )
        seen: set[str] = set()
        compiled = []
        for rule in rules:
            if rule.name in seen:
                raise RulesError(f"{where}: two rules are named {rule.name!r}")
            seen.add(rule.name)
            compiled.append(self._compile(rule))
        self.rules = tuple(rules)
        self._compiled = tuple(compiled)
        used = set().union(*(c.needs for c in compiled)) if compiled else set()
        #: The names a verdict reads, and the lists it looks up (with their fields).
        self.names = tuple(sorted(n for n in used if not n.startswith("lists.")))
        self._list_refs = tuple(
            (name, self.list_specs[name].fields)
            for name in sorted(n.removeprefix("lists.") for n in used if n.startswith("lists."))
        )
        needed = set(self.names) | {f for _, fields in self._list_refs for f in fields}
        self._event_fields = tuple(n for n in _fields(self.kind) if n in needed)
        index = {f: i for i, f in enumerate(self.kind.features)}
        self._feature_at = tuple(
            (n, index[n]) for n in self.kind.features if n in needed and n not in self._event_fields
        )
        self._lists: dict[str, Matcher] = {}
        #: Rules that failed while running (a type error past the load check): counts by name.
        self.errors: Counter[str] = Counter()
        self.reload_lists()

    # -- loading ---------------------------------------------------------------------------

    def _compile(self, rule: Rule) -> _Compiled:
        import cel

        where = f"{self.where}: rule {rule.name!r}"
        if rule.action not in self.kind.decisions:
            raise RulesError(
                f"{where}: action {rule.action!r} is not one of {list(self.kind.decisions)}"
            )
        if not _CODE.match(rule.reason):
            raise RulesError(f"{where}: reason {rule.reason!r} is not a code like HIGH_VELOCITY")
        try:
            program = cel.compile(rule.when)
        except ValueError as exc:
            message = str(exc).replace("<input>", "when")
            raise RulesError(f"{where}: {message}") from None
        names = set(program.variables())
        unknown = sorted(names - set(self.variables) - {"lists"})
        if unknown:
            raise RulesError(
                f"{where}: unknown name {unknown[0]!r} at {_position(rule.when, unknown[0])} of "
                f"`when`; the names are {sorted(self.variables)}, and lists.<name>"
            )
        lists = set(_LIST_REF.findall(rule.when))
        if "lists" in names and not lists:
            raise RulesError(
                f"{where}: write a list as lists.<name>, one of {sorted(self.list_specs)}"
            )
        for name in sorted(lists):
            if name not in self.list_specs:
                raise RulesError(
                    f"{where}: unknown list {name!r} at {_position(rule.when, 'lists.' + name)} of "
                    f"`when`; the lists are {sorted(self.list_specs)}"
                )
        for field_name in _placeholders(rule.text):
            if field_name not in self.variables:
                raise RulesError(
                    f"{where}: text names {{{field_name}}}; the names are {sorted(self.variables)}"
                )
        needs = frozenset((names - {"lists"}) | {f"lists.{n}" for n in lists})
        for sample in _samples(self.variables, lists):
            try:
                out = program.execute(cel.Context(variables=sample))
            except _EVAL_ERRORS as exc:
                raise RulesError(f"{where}: `when` cannot run on the kind's types: {exc}") from None
            if not isinstance(out, bool):
                raise RulesError(
                    f"{where}: `when` gives a {type(out).__name__} ({out!r}), not true or false"
                )
        fast = compile_fast(rule.when, self.variables)
        return _Compiled(rule, program, needs, self.kind.decisions.index(rule.action), fast)

    def reload_lists(self) -> dict[str, int]:
        """Read every list file again and put the new lists in service at once.

        Scoring threads keep using the old lists until the new ones are all read and indexed;
        a bad file raises :class:`RulesError` and leaves the old lists in service. Returns the
        entries per list.
        """
        fresh = {name: read_list(spec) for name, spec in self.list_specs.items()}
        self._lists = fresh  # one assignment: a verdict reads the whole dict once
        return {name: m.size for name, m in fresh.items()}

    @property
    def lists(self) -> Mapping[str, Matcher]:
        """The lists in service now. A caller deciding many events passes this one snapshot to
        each verdict, so that a reload meanwhile never splits a call between two versions."""
        return self._lists

    # -- deciding ------------------------------------------------------------------------------

    def values_of(self, event: Any, features: Sequence[float], score: float) -> dict[str, Any]:
        """The names the rules read, for one scored event (its fields, features and score)."""
        values = {n: getattr(event, n) for n in self._event_fields}
        for n, i in self._feature_at:
            values[n] = features[i]
        values["score"] = score
        return values

    def decide_event(
        self,
        event: Any,
        features: Sequence[float],
        score: float,
        lists: Mapping[str, Matcher] | None = None,
    ) -> Verdict | None:
        """:meth:`decide` on one scored event (the online path: the values it has, directly)."""
        present: dict[str, Any] = {}
        for n in self._event_fields:
            v = getattr(event, n)
            if v is not None:
                present[n] = v
        for n, i in self._feature_at:
            v = features[i]
            if v == v:
                present[n] = v
        present["score"] = score
        if self._list_refs:
            self._look_up(present, present, lists)
        return self._decide(present, present)

    def decide(
        self,
        values: Mapping[str, Any],
        lists: Mapping[str, Matcher] | None = None,
        *,
        every: bool = False,
    ) -> Verdict | None:
        """The rules' verdict on one event's ``values`` (None when no rule matched), against
        ``lists`` (a snapshot of :attr:`lists`; default, those in service now).

        With ``every``, every rule is evaluated, also after the first match of a ``"first"``
        file: ``matched`` then names every live rule that holds (what a backtest counts per
        rule), and the deciding rule is the mode's choice among them, as without."""
        return self._decide(self._present(values, lists), values, every)

    def _decide(
        self, present: dict[str, Any], values: Mapping[str, Any], every: bool = False
    ) -> Verdict | None:
        """The one evaluation of the rules: in file order, each condition by its fast path or
        else by the CEL engine; a condition that reads a missing value, or fails, is no match."""
        engine: list[Any] = []
        decided: _Compiled | None = None
        matched: list[str] = []
        shadow: list[str] = []
        first = self.mode == "first"
        have = present.keys()
        for c in self._compiled:
            is_shadow = c.rule.shadow
            if decided is not None and first and not is_shadow and not every:
                continue
            if not c.needs <= have:
                continue  # a value the condition reads is missing: no match
            fast = c.fast
            try:
                if fast is not None:
                    if fast(present) is not True:
                        continue
                else:
                    if not engine:  # the CEL engine's context: built once, only if needed
                        engine.append(_cel_context(present))
                    if c.program.execute(engine[0]) is not True:
                        continue
            except _EVAL_ERRORS:
                self.errors[c.rule.name] += 1
                continue
            if is_shadow:
                shadow.append(c.rule.name)
                continue
            matched.append(c.rule.name)
            if decided is None or (not first and c.severity > decided.severity):
                decided = c
        if decided is None and not shadow:
            return None
        rule = decided.rule if decided is not None else None
        text = _fill(rule.text, values) if rule is not None else ""
        return Verdict(rule, tuple(matched), tuple(shadow), text)

    def overrule(self, model: str, rule: Rule) -> str:
        """The decision when ``rule`` decides over the model's ``model`` decision: an approve
        (allow) rule approves; a review or decline rule never lowers the model's decision."""
        labels = self.kind.decisions
        if rule.action == labels[0]:
            return rule.action
        return labels[max(labels.index(model), labels.index(rule.action))]

    def _present(
        self, values: Mapping[str, Any], lists: Mapping[str, Matcher] | None = None
    ) -> dict[str, Any]:
        """The values the rules read that the event has (not None, not NaN), and
        ``lists.<name>`` for each list whose fields it has."""
        present: dict[str, Any] = {}
        for n in self.names:
            v = values.get(n)
            if v is not None and v == v:
                present[n] = v
        if self._list_refs:
            self._look_up(values, present, lists)
        return present

    def _look_up(
        self,
        values: Mapping[str, Any],
        present: dict[str, Any],
        lists: Mapping[str, Matcher] | None,
    ) -> None:
        """``lists.<name>`` into ``present`` for each list whose fields ``values`` has."""
        # Read once: a reload mid-event does not mix two versions.
        matchers = self._lists if lists is None else lists
        for name, fields in self._list_refs:
            if len(fields) == 1:
                v = values.get(fields[0])
                if v is None or v != v:
                    continue
                key = v if type(v) is str else str(v)
            else:
                parts = [values.get(f) for f in fields]
                if any(p is None or p != p for p in parts):
                    continue
                key = ",".join(map(str, parts))
            present["lists." + name] = matchers[name].contains(key)


def _cel_context(present: Mapping[str, Any]) -> Any:
    import cel

    variables: dict[str, Any] = {}
    listed: dict[str, bool] = {}
    for name, value in present.items():
        if name.startswith("lists."):
            listed[name[6:]] = value
        else:
            variables[name] = value
    variables["lists"] = listed
    return cel.Context(variables=variables)


def starter_rules(kind: str) -> Path:
    """The starter rules file of ``kind`` shipped with fraudscore (its lists beside it)."""
    spec = kind_spec(kind, where="kind")
    if spec.starter_rules is None:
        raise ConfigError("kind", kind, "a kind that ships starter rules")
    return spec.starter_rules


def load_rules(path: str | Path, kind: str | None = None) -> RuleSet:
    """Load and compile a rules file (TOML); its lists are read relative to the file.

    ``kind`` (when given) must be the file's. Raises :class:`RulesError` naming the problem.
    """
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"cannot read rules file {str(p)!r}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{p}: not valid TOML: {exc}") from None
    where = str(p)
    extra = sorted(set(doc) - {"kind", "mode", "lists", "rules"})
    if extra:
        raise RulesError(
            f"{where}: unknown key {extra[0]!r}; the keys are kind, mode, lists, rules"
        )
    file_kind = doc.get("kind")
    if kind is not None and file_kind != kind:
        raise RulesError(f"{where}: kind {file_kind!r}, expected {kind!r}")
    if not isinstance(doc.get("rules", []), list):
        raise RulesError(f"{where}: rules must be an array of tables ([[rules]])")
    lists = [_list_spec(where, p.parent, name, body) for name, body in doc.get("lists", {}).items()]
    rules = [_rule(where, i, body) for i, body in enumerate(doc.get("rules", []), 1)]
    return RuleSet(
        kind_spec(file_kind, where=where),
        rules,
        mode=doc.get("mode", "first"),
        lists=lists,
        where=where,
    )


def _rule(where: str, i: int, body: Any) -> Rule:
    if not isinstance(body, dict):
        raise RulesError(f"{where}: rule #{i} is not a table")
    name = body.get("name")
    label = f"{where}: rule #{i}" + (f" ({name!r})" if name else "")
    extra = sorted(set(body) - _RULE_KEYS)
    if extra:
        raise RulesError(f"{label}: unknown key {extra[0]!r}; the keys are {sorted(_RULE_KEYS)}")
    for key in ("name", "action", "when", "reason"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            raise RulesError(f"{label}: {key!r} is missing or not a string")
    if not _NAME.match(body["name"]):
        raise RulesError(f"{label}: name {body['name']!r} is not an identifier")
    if not isinstance(body.get("shadow", False), bool):
        raise RulesError(f"{label}: shadow must be true or false")
    return Rule(
        name=body["name"],
        action=body["action"],
        when=body["when"],
        reason=body["reason"],
        text=str(body.get("text", body["reason"])),
        shadow=body.get("shadow", False),
    )


def _list_spec(where: str, base: Path, name: str, body: Any) -> ListSpec:
    if not _NAME.match(name) or not isinstance(body, dict):
        raise RulesError(f"{where}: list {name!r} must be a table named like an identifier")
    extra = sorted(set(body) - _LIST_KEYS)
    if extra:
        raise RulesError(
            f"{where}: list {name!r}: unknown key {extra[0]!r}; the keys are {sorted(_LIST_KEYS)}"
        )
    match = body.get("match")
    fields = (match,) if isinstance(match, str) else tuple(match or ())
    if not isinstance(body.get("file"), str) or not all(isinstance(f, str) for f in fields):
        raise RulesError(f'{where}: list {name!r} needs file = "..." and match = field(s)')
    return ListSpec(name, base / body["file"], fields, body.get("type", "exact"))


# -- the names a condition reads ----------------------------------------------------------------


def variables(kind: EventKind) -> dict[str, type]:
    """Every name a condition of ``kind`` may read, with its type: the event's fields, the
    features (floats) and ``score``."""
    out: dict[str, type] = dict(_fields(kind))
    for f in kind.features:
        out.setdefault(f, float)
    out["score"] = float
    return out


def _fields(kind: EventKind) -> dict[str, type]:
    """The event's scalar fields and their types (timestamps are read through features)."""
    types = {"str": str, "float": float, "int": int, "bool": bool}
    out = {}
    for f in dataclasses.fields(kind.event_type):
        base = str(f.type).split("|")[0].strip()
        if base in types:
            out[f.name] = types[base]
    return out


def _features(rules: RuleSet) -> set[str]:
    return set(rules.kind.features) - set(_fields(rules.kind))


def _samples(names: Mapping[str, type], lists: set[str]) -> list[dict[str, Any]]:
    """Typed values for every name: two samples, so that both sides of most branches run."""
    lo = {str: "", float: 0.0, int: 0, bool: False}
    hi = {str: "zz", float: 1e9, int: 2**31, bool: True}
    return [
        {**{n: pick[t] for n, t in names.items()}, "lists": dict.fromkeys(lists, flag)}
        for pick, flag in ((lo, False), (hi, True))
    ]


def _position(source: str, name: str) -> str:
    m = re.search(r"\b" + re.escape(name).replace(r"\.", r"\s*\.\s*") + r"\b", source)
    if m is None:
        return "an unknown position"
    line = source.count("\n", 0, m.start()) + 1
    col = m.start() - (source.rfind("\n", 0, m.start()) + 1) + 1
    return f"line {line}, column {col}"


def _placeholders(text: str) -> list[str]:
    try:
        return [f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(text) if f]
    except ValueError as exc:
        raise RulesError(f"text {text!r} is not a valid template: {exc}") from None


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "unknown"


def _fill(text: str, values: Mapping[str, Any]) -> str:
    """The rule's text with the event's values; a missing or NaN value reads "unknown"."""
    clean = _Blank(
        {
            k: v
            for k, v in values.items()
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        }
    )
    try:
        return text.format_map(clean)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return text
