"""Rules and lists: load-time errors, order and modes, missing values, lists, the scorer, reload."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore import (
    Login,
    OfflineFeatures,
    RulesError,
    RuleSet,
    Scorer,
    Thresholds,
    TrainingError,
    Transaction,
    backtest_rules,
    load_bundle,
    load_rules,
    score_frame,
    starter_rules,
)
from fraudscore._serving.lists import ListSpec, read_list
from fraudscore._serving.rules import Rule
from fraudscore._training.pipeline import to_events

from .conftest import CUTOFF


def matching(rules: RuleSet, values: Mapping[str, Any]) -> tuple[str, ...]:
    """Every live rule that holds for ``values``, in file order (what a backtest counts)."""
    verdict = rules.decide(values, every=True)
    return () if verdict is None else verdict.matched


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rules_file(tmp_path: Path, body: str, *, kind: str = "transaction", head: str = "") -> Path:
    return write(tmp_path / "rules.toml", f'kind = "{kind}"\n{head}\n{body}')


def rule(name: str, action: str, when: str, *, shadow: bool = False) -> str:
    return (
        f'[[rules]]\nname = "{name}"\naction = "{action}"\nwhen = """{when}"""\n'
        f'reason = "{name.upper()}"\ntext = "{name} hit"\nshadow = {str(shadow).lower()}\n'
    )


def tx(**changes: object) -> Transaction:
    base = Transaction("t1", datetime(2018, 5, 9, 12, tzinfo=UTC), "C000001", "T000001", 50.0)
    return replace(base, **changes)  # type: ignore[arg-type]


# -- load-time errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("amount >", r"rule 'r'.*when:1:9: Syntax error"),
        ("amout > 3.0", r"rule 'r': unknown name 'amout' at line 1, column 1 .*'amount'.*'score'"),
        ("score > 0.5 && cust_n_1x > 2.0", r"unknown name 'cust_n_1x' at line 1, column 16"),
        (
            "lists.nope",
            r"unknown list 'nope' at line 1, column 1 of `when`; the lists are \['deny'\]",
        ),
        ("channel > 3", r"rule 'r': `when` cannot run on the kind's types: No such overload"),
        ("amount + 1", r"cannot run on the kind's types"),
        ("amount * 2.0", r"gives a float .*not true or false"),
        ("nosuchfn(amount)", r"unknown name|cannot run"),
    ],
)
def test_bad_conditions_are_refused_at_load_naming_rule_position_and_names(
    tmp_path: Path, when: str, expected: str
) -> None:
    write(tmp_path / "deny.txt", "T1\n")
    head = '[lists.deny]\nfile = "deny.txt"\nmatch = "terminal_id"\n'
    with pytest.raises(RulesError, match=expected):
        load_rules(rules_file(tmp_path, rule("r", "decline", when), head=head))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            rule("r", "block", "amount > 1.0"),
            r"action 'block' is not one of \['approve', 'review', 'decline'\]",
        ),
        (
            rule("r", "decline", "amount > 1.0") + rule("r", "review", "amount > 2.0"),
            "two rules are named 'r'",
        ),
        (
            '[[rules]]\nname = "r"\naction = "decline"\nwhen = "amount > 1.0"\nreason = "R"\nwhom = 1\n',
            "unknown key 'whom'",
        ),
        ('[[rules]]\nname = "r"\naction = "decline"\nreason = "R"\n', "'when' is missing"),
        (
            'mode = "some"\n' + rule("r", "decline", "amount > 1.0"),
            r"mode 'some' is not one of \['first', 'all'\]",
        ),
        (
            rule("r", "decline", "amount > 1.0")
            .replace('"R"', '"lower case"')
            .replace('reason = "R"', 'reason = "not a code"'),
            "not a code",
        ),
        (
            rule("r", "decline", "amount > 1.0").replace('text = "r hit"', 'text = "{amout}"'),
            r"text names \{amout\}",
        ),
        ("[[rules\n", "not valid TOML"),
    ],
)
def test_bad_files_are_refused_at_load(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(RulesError, match=expected):
        load_rules(rules_file(tmp_path, text))


def test_a_file_for_another_kind_and_bad_lists_are_refused(tmp_path: Path) -> None:
    path = rules_file(tmp_path, rule("r", "deny", "ip_users_1d > 3.0"), kind="login")
    assert load_rules(path).kind.name == "login"
    with pytest.raises(RulesError, match="kind 'login', expected 'transaction'"):
        load_rules(path, "transaction")
    write(tmp_path / "ips.txt", "10.0.0.0/8\n# a comment\n\n10.1.2.300\n")
    head = '[lists.ips]\nfile = "ips.txt"\nmatch = "ip"\ntype = "cidr"\n'
    with pytest.raises(RulesError, match=r"list 'ips' \(.*ips.txt:4\): '10.1.2.300' is not an IP"):
        load_rules(rules_file(tmp_path, rule("r", "decline", "lists.ips"), head=head))
    head = '[lists.x]\nfile = "missing.txt"\nmatch = "ip"\n'
    with pytest.raises(RulesError, match="list 'x': cannot read"):
        load_rules(rules_file(tmp_path, rule("r", "decline", "lists.x"), head=head))
    head = '[lists.x]\nfile = "ips.txt"\nmatch = "cust_n_1d"\n'
    with pytest.raises(RulesError, match="it matches event fields"):
        load_rules(rules_file(tmp_path, rule("r", "decline", "lists.x"), head=head))


@pytest.mark.parametrize("kind", ["transaction", "login"])
def test_starter_files_compile_with_their_lists(kind: str) -> None:
    rules = load_rules(starter_rules(kind), kind)
    assert len(rules.rules) >= 6
    assert any(r.shadow for r in rules.rules)
    assert all(size > 0 for size in rules.reload_lists().values())


# -- order, modes, shadow, missing values --------------------------------------------------------


def test_first_matched_takes_the_first_rule_in_file_order(tmp_path: Path) -> None:
    text = (
        rule("watch_big", "review", "amount > 100.0")
        + rule("block_bigger", "decline", "amount > 200.0")
        + rule("shadow_big", "decline", "amount > 150.0", shadow=True)
    )
    rules = load_rules(rules_file(tmp_path, text))
    v = rules.decide({"amount": 300.0, "score": 0.1})
    assert v is not None and v.rule is not None
    assert (v.rule.name, v.matched, v.shadow) == ("watch_big", ("watch_big",), ("shadow_big",))
    assert v.text == "watch_big hit"
    v = rules.decide({"amount": 160.0, "score": 0.1})
    assert v is not None and v.rule is not None and v.shadow == ("shadow_big",)
    assert rules.decide({"amount": 50.0, "score": 0.1}) is None
    # A shadow match alone never decides.
    only = load_rules(rules_file(tmp_path, rule("s", "decline", "amount > 1.0", shadow=True)))
    v = only.decide({"amount": 5.0})
    assert v is not None and v.rule is None and v.shadow == ("s",)


def test_all_matched_takes_the_most_severe_action_and_lists_every_match(tmp_path: Path) -> None:
    text = (
        rule("allow_small", "approve", "amount < 1000.0")
        + rule("watch_big", "review", "amount > 100.0")
        + rule("block_bigger", "decline", "amount > 200.0")
        + rule("block_biggest", "decline", "amount > 250.0")
    )
    rules = load_rules(rules_file(tmp_path, text, head='mode = "all"'))
    v = rules.decide({"amount": 300.0})
    assert v is not None and v.rule is not None
    assert v.rule.name == "block_bigger"  # the first of the most severe
    assert v.matched == ("allow_small", "watch_big", "block_bigger", "block_biggest")
    first = load_rules(rules_file(tmp_path, text))
    v = first.decide({"amount": 300.0})
    assert v is not None and v.rule is not None and v.rule.name == "allow_small"
    assert v.matched == ("allow_small",)
    every = first.decide({"amount": 300.0}, every=True)  # a backtest's count of every rule
    assert every is not None and every.rule is not None and every.rule.name == "allow_small"
    assert every.matched == ("allow_small", "watch_big", "block_bigger", "block_biggest")
    every = rules.decide({"amount": 300.0}, every=True)
    assert every is not None and every.rule is not None and every.rule.name == "block_bigger"


def test_a_missing_or_nan_value_makes_the_rule_not_match_and_never_raises(tmp_path: Path) -> None:
    write(tmp_path / "devices.txt", "C000001,dev-1\n")
    head = '[lists.trusted]\nfile = "devices.txt"\nmatch = ["customer_id", "device_id"]\n'
    text = (
        rule("is_dev", "review", "device_id == 'dev-1'")
        + rule("not_dev", "review", "!(device_id == 'dev-1')")
        + rule("fast", "decline", "cust_secs_since_last < 60.0")
        + rule("slow", "decline", "!(cust_secs_since_last < 60.0)")
        + rule("trusted", "approve", "lists.trusted")
        + rule("untrusted", "approve", "!lists.trusted")
    )
    rules = load_rules(rules_file(tmp_path, text, head=head))

    base = {"customer_id": "C000001", "score": 0.1}
    assert matching(rules, {**base, "device_id": None, "cust_secs_since_last": math.nan}) == ()
    assert rules.decide({**base, "device_id": None, "cust_secs_since_last": math.nan}) is None
    feats = [math.nan] * len(rules.kind.features)
    assert rules.decide_event(tx(), feats, 0.1) is None  # no device, no history
    assert matching(rules, {**base, "device_id": "dev-1", "cust_secs_since_last": 30.0}) == (
        "is_dev", "fast", "trusted",
    )  # fmt: skip
    assert matching(rules, {**base, "device_id": "dev-2", "cust_secs_since_last": 90.0}) == (
        "not_dev", "slow", "untrusted",
    )  # fmt: skip
    assert not rules.errors


# -- lists ---------------------------------------------------------------------------------------


def test_list_kinds_match_exactly_by_prefix_and_by_cidr(tmp_path: Path) -> None:
    exact = read_list(ListSpec("e", write(tmp_path / "e.txt", "a\n b \n#c\n"), ("x",)))
    assert (exact.contains("a"), exact.contains("b"), exact.contains("c"), exact.size) == (
        True,
        True,
        False,
        2,
    )
    prefix = read_list(ListSpec("p", write(tmp_path / "p.txt", "411111\n5500\n"), ("x",), "prefix"))
    assert [prefix.contains(v) for v in ("4111119999", "5500", "550", "4111", "6011")] == [
        True, True, False, False, False,
    ]  # fmt: skip
    cidr = read_list(
        ListSpec(
            "c",
            write(tmp_path / "c.txt", "10.0.0.0/8\n192.0.2.7\n10.2.0.0/16\n2001:db8::/32\n"),
            ("ip",),
            "cidr",
        )
    )
    probes = {
        "10.0.0.0": True, "10.255.255.255": True, "11.0.0.0": False, "9.255.255.255": False,
        "192.0.2.7": True, "192.0.2.8": False, "2001:db8::1": True, "2001:db9::": False,
        "not an ip": False,
    }  # fmt: skip
    assert {ip: cidr.contains(ip) for ip in probes} == probes


def test_lists_of_100000_entries_look_up_in_microseconds(tmp_path: Path) -> None:
    """A set and a bisection: the lookup time does not grow with the list (vs 10 entries)."""
    import timeit

    rng = np.random.default_rng(0)
    nets = [f"{a}.{b}.{c}.0/24" for a, b, c in rng.integers(1, 250, size=(100_000, 3))]
    big = read_list(ListSpec("b", write(tmp_path / "b.txt", "\n".join(nets)), ("ip",), "cidr"))
    small = read_list(
        ListSpec("s", write(tmp_path / "s.txt", "\n".join(nets[:10])), ("ip",), "cidr")
    )
    probe = nets[-1].replace(".0/24", ".9")
    assert big.contains(probe) and not small.contains(probe)
    per_big = min(timeit.repeat(lambda: big.contains(probe), number=2000, repeat=5))
    per_small = min(timeit.repeat(lambda: small.contains(probe), number=2000, repeat=5))
    assert per_big < 3 * per_small  # O(log n): 17 steps against 4, not 10,000x


# -- the scorer ----------------------------------------------------------------------------------


@pytest.fixture
def later(sim: pd.DataFrame) -> list[Transaction]:
    return to_events(sim[sim["timestamp"] > CUTOFF].head(300))


def test_a_matching_rule_decides_names_itself_and_puts_its_reason_first(
    scorer: Scorer, later: list[Transaction], tmp_path: Path
) -> None:
    plain = [scorer.score(e) for e in later]
    text = rule("big", "decline", "amount > 60.0") + rule(
        "shadow_small", "review", "amount < 10.0", shadow=True
    )
    scorer.set_rules(rules_file(tmp_path, text))
    ruled = [scorer.score(e) for e in later]
    assert any(e.amount > 60 for e in later) and any(e.amount < 10 for e in later)
    for e, p, r in zip(later, plain, ruled, strict=True):
        assert r.score == p.score  # the model's score is kept
        if e.amount > 60:
            assert (r.decision, r.rule, r.matched_rules) == ("decline", "big", ("big",))
            assert r.reasons[0].code == "BIG" and r.reasons[1:] == p.reasons
        else:
            assert (r.decision, r.rule, r.reasons) == (p.decision, None, p.reasons)
        assert r.shadow_rules == (("shadow_small",) if e.amount < 10 else ())
    # The batch paths apply the same rules.
    batch = scorer.score_many(later)
    for b, r in zip(batch, ruled, strict=True):
        assert b.score == pytest.approx(r.score, abs=1e-9)
        assert (b.decision, b.rule, b.matched_rules, b.shadow_rules) == (
            r.decision, r.rule, r.matched_rules, r.shadow_rules,
        )  # fmt: skip
        assert [x.code for x in b.reasons] == [x.code for x in r.reasons]
    _, decisions, codes, fired = scorer.score_codes(later)
    assert decisions == [r.decision for r in ruled]
    assert fired == [r.rule for r in ruled]
    assert [c[0] for c, r in zip(codes, ruled, strict=True) if r.rule] == ["BIG"] * sum(
        r.rule is not None for r in ruled
    )
    # Rules off again: the model alone decides.
    scorer.set_rules(None)
    assert [scorer.score(e) for e in later] == plain


def test_a_rules_file_that_does_not_load_leaves_the_rules_in_service(
    scorer: Scorer, later: list[Transaction], tmp_path: Path
) -> None:
    scorer.set_rules(rules_file(tmp_path, rule("all", "review", "amount >= 0.0")))
    bad = write(
        tmp_path / "bad.toml", 'kind = "transaction"\n' + rule("x", "review", "amout > 1.0")
    )
    with pytest.raises(RulesError):
        scorer.set_rules(bad)
    with pytest.raises(RulesError, match="rules for logins"):
        scorer.set_rules(RuleSet("login", []))
    assert scorer.score(later[0]).rule == "all"


def test_lists_reload_under_four_scoring_threads_without_a_failed_call(
    scorer: Scorer, later: list[Transaction], tmp_path: Path
) -> None:
    """Terminals move on and off the deny list (40 times or more) while 4 threads score: no call fails,
    and every result is either the old list's or the new list's."""
    deny = tmp_path / "deny.txt"
    terminals = sorted({e.terminal_id for e in later})
    half = set(terminals[::2])
    write(deny, "\n".join(half))
    head = '[lists.deny]\nfile = "deny.txt"\nmatch = "terminal_id"\n'
    scorer.set_rules(rules_file(tmp_path, rule("deny", "decline", "lists.deny"), head=head))
    rules = scorer.rules
    assert rules is not None
    errors: list[BaseException] = []
    seen: list[tuple[str, str | None]] = []
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                for e in later[:50]:
                    seen.append((e.terminal_id, scorer.score(e).rule))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    # At least 40 reloads, and on until the threads have scored 4 passes each in between: a
    # slow machine reloads for longer rather than letting the threads miss the reloads.
    i, deadline = 0, time.monotonic() + 120
    while i < 40 or (len(seen) < 800 and not errors and time.monotonic() < deadline):
        write(
            deny,
            "\n".join(half if i % 2 else set(terminals) - half)
            + "\n"
            + "\n".join(f"X{j}" for j in range(20_000)),
        )
        rules.reload_lists()
        i += 1
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(seen) >= 800
    hits = {(term, r) for term, r in seen}
    assert {r for _, r in hits} == {"deny", None}  # both states of the list were seen
    assert not rules.errors


def test_login_rules_read_typed_fields_and_lists(tmp_path: Path) -> None:
    write(tmp_path / "asns.txt", "16509\n")
    write(tmp_path / "ips.txt", "203.0.113.0/24\n")
    head = (
        '[lists.hosting]\nfile = "asns.txt"\nmatch = "asn"\n'
        '[lists.ips]\nfile = "ips.txt"\nmatch = "ip"\ntype = "cidr"\n'
    )
    text = (
        rule("bad_ip", "deny", "lists.ips")
        + rule("hosting", "challenge", "lists.hosting && asn == 16509 && success")
        + rule("agent", "challenge", "user_agent.contains('curl')")
    )
    rules = load_rules(rules_file(tmp_path, text, kind="login", head=head))
    login = Login(
        "l1", datetime(2018, 5, 9, tzinfo=UTC), "u1", "203.0.113.9", "FR", 16509, "curl/8", True
    )
    values = rules.values_of(login, [math.nan] * len(rules.kind.features), 0.2)
    assert matching(rules, values) == ("bad_ip", "hosting", "agent")
    v = rules.decide(values)
    assert v is not None and v.rule is not None and v.rule.action == "deny"


def test_transaction_values_come_from_the_event_features_and_score() -> None:
    rules = RuleSet(
        "transaction",
        [Rule("r", "review", "channel == 'online' && cust_n_1d > 2.0 && score > 0.5", "R", "r")],
    )
    feats = [0.0] * len(rules.kind.features)
    feats[rules.kind.features.index("cust_n_1d")] = 3.0
    assert matching(rules, rules.values_of(tx(channel="online"), feats, 0.6)) == ("r",)
    assert matching(rules, rules.values_of(tx(channel="pos"), feats, 0.6)) == ()
    assert matching(rules, rules.values_of(tx(channel="online"), feats, 0.4)) == ()
    assert matching(rules, rules.values_of(tx(), feats, 0.6)) == ()  # no channel: no match


# -- backtest ------------------------------------------------------------------------------------

WINDOW = (date(2018, 5, 3), date(2018, 5, 9))


def test_backtest_counts_each_rule_and_the_combined_effect(
    offline: OfflineFeatures, bundle_dir: Path, tmp_path: Path
) -> None:
    """Every count recomputed from the frame: per rule on its own, then the file's policy."""
    text = (
        rule("allow_tiny", "approve", "amount < 2.0")
        + rule("big", "decline", "amount > 100.0")
        + rule("night", "review", "hour_of_day < 5.0")
        + rule("big_shadow", "decline", "amount > 50.0", shadow=True)
    )
    bt = backtest_rules(rules_file(tmp_path, text), bundle_dir, offline, *WINDOW)
    frame = offline.frame
    ts = frame["timestamp"]
    rows = frame[
        (ts >= pd.Timestamp(WINDOW[0], tz="UTC"))
        & (ts < pd.Timestamp(WINDOW[1], tz="UTC") + pd.Timedelta(days=1))
    ]
    y = rows["is_fraud"].to_numpy() == 1
    assert (bt.events, bt.positives) == (len(rows), int(y.sum()))
    hits = {
        "allow_tiny": rows["amount"].to_numpy() < 2.0,
        "big": rows["amount"].to_numpy() > 100.0,
        "night": rows["hour_of_day"].to_numpy() < 5.0,
        "big_shadow": rows["amount"].to_numpy() > 50.0,
    }
    score = score_frame(bundle_dir, rows)["score"].to_numpy()
    thr = load_bundle(bundle_dir).thresholds
    model = np.where(score >= thr.block, 2, np.where(score >= thr.review, 1, 0))
    table = bt.rules.set_index("rule")
    for name, hit in hits.items():
        assert hit.any()
        assert table.loc[name, "hits"] == hit.sum()
        assert table.loc[name, "hit_rate"] == pytest.approx(hit.mean())
        assert table.loc[name, "caught"] == (hit & y).sum()
        assert table.loc[name, "genuine"] == (hit & ~y).sum()
        assert table.loc[name, "beyond_model"] == (hit & y & (model == 0)).sum()
        if (hit & y).any():
            assert table.loc[name, "precision"] == pytest.approx((hit & y).sum() / hit.sum())
    # First-matched in file order; the shadow rule never decides.
    combined = np.where(
        hits["allow_tiny"],
        0,
        np.where(hits["big"], 2, np.where(hits["night"], np.maximum(1, model), model)),
    )
    effect = bt.combined.set_index("policy")
    for policy, decision in (("model alone", model), ("model + rules", combined)):
        row = effect.loc[policy]
        assert row["flagged"] == (decision >= 1).sum()
        assert row["blocked"] == (decision == 2).sum()
        assert row["caught"] == ((decision >= 1) & y).sum()
        assert row["genuine_blocked"] == ((decision == 2) & ~y).sum()
        assert row["recall"] == pytest.approx(((decision >= 1) & y).sum() / y.sum())
    assert bt.to_dict()["rules"][0]["rule"] == "allow_tiny"


def test_backtest_refuses_a_mismatched_kind_and_an_empty_window(
    offline: OfflineFeatures, bundle_dir: Path, tmp_path: Path
) -> None:
    login_rules = rules_file(tmp_path, rule("r", "deny", "ip_users_1d > 3.0"), kind="login")
    with pytest.raises(RulesError, match="must be of one kind"):
        backtest_rules(login_rules, bundle_dir, offline, *WINDOW)
    with pytest.raises(TrainingError, match="no transactions"):
        backtest_rules(
            rules_file(tmp_path, rule("r", "decline", "amount > 1.0")),
            bundle_dir,
            offline,
            date(2030, 1, 1),
            date(2030, 1, 2),
        )


# -- the Python fast path keeps CEL's meaning ----------------------------------------------------

NUMS = ["amount", "cust_n_1h", "score"]
TEXTS = ["channel", "currency"]


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> str:
    """Random conditions in the fast path's subset: comparisons, lists, !, &&, ||, ()."""
    choice = draw(st.integers(0, 5 if depth < 3 else 2))
    if choice == 0:
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        name = draw(st.sampled_from(NUMS))
        lit = draw(st.sampled_from(["0", "1", "5", "0.5", "1.0", "-2.5", "100.0"]))
        return f"{lit} {op} {name}" if draw(st.booleans()) else f"{name} {op} {lit}"
    if choice == 1:
        op = draw(st.sampled_from(["==", "!=", "<", ">="]))
        return f"{draw(st.sampled_from(TEXTS))} {op} '{draw(st.sampled_from(['pos', 'online', 'EUR', '']))}'"
    if choice == 2:
        return draw(st.sampled_from(["lists.deny", "amount > cust_n_1h", "channel == currency"]))
    if choice == 3:
        return f"!({draw(conditions(depth + 1))})"
    op = "&&" if choice == 4 else "||"
    return f"({draw(conditions(depth + 1))}) {op} {draw(conditions(depth + 1))}"


@settings(max_examples=300, deadline=None)
@given(
    when=conditions(),
    amount=st.sampled_from([0.0, 0.5, 1.0, 5.0, 100.0, -2.5, 42.25]),
    count=st.sampled_from([0.0, 1.0, 5.0, 0.5, 1e9]),
    score=st.sampled_from([0.0, 0.5, 1.0, 0.25]),
    channel=st.sampled_from(["pos", "online", "", "EUR"]),
    currency=st.sampled_from(["EUR", "pos", ""]),
    listed=st.booleans(),
)
def test_fast_path_agrees_with_the_cel_engine(
    when: str, amount: float, count: float, score: float, channel: str, currency: str, listed: bool
) -> None:
    import cel

    from fraudscore._kinds import TRANSACTION
    from fraudscore._serving.fastpath import compile_fast
    from fraudscore._serving.rules import variables

    fast = compile_fast(when, variables(TRANSACTION))
    assert fast is not None, when  # the generator stays inside the subset
    values = {"amount": amount, "cust_n_1h": count, "score": score, "channel": channel,
              "currency": currency, "lists.deny": listed}  # fmt: skip
    engine = cel.compile(when).execute(
        cel.Context(
            variables={
                **{k: v for k, v in values.items() if "." not in k},
                "lists": {"deny": listed},
            }
        )
    )
    assert fast(values) is engine, when


def test_conditions_outside_the_subset_run_on_the_engine() -> None:
    from fraudscore._kinds import TRANSACTION
    from fraudscore._serving.fastpath import compile_fast
    from fraudscore._serving.rules import variables

    names = variables(TRANSACTION)
    for when in ["amount * 2.0 > 10.0", "size(channel) > 2", "channel.startsWith('on')",
                 "amount > 1u", "channel == 'a\\\\nb'", "score > 0.5 ? true : false"]:  # fmt: skip
        assert compile_fast(when, names) is None, when
    assert compile_fast("amount > 1.0 && lists.x", names) is not None


def test_review_and_decline_rules_never_lower_the_models_decision_and_approve_rules_do(
    bundle_dir: Path, repo: Path, later: list[Transaction], tmp_path: Path
) -> None:
    """With thresholds at 0 the model declines everything: a matching review rule keeps the
    decline (and is named), a matching approve rule approves."""
    strict = Scorer.open(bundle_dir, repo, thresholds=Thresholds(review=0.0, block=0.0))
    strict.set_rules(rules_file(tmp_path, rule("watch", "review", "amount >= 0.0")))
    r = strict.score(later[0])
    assert (r.decision, r.rule, r.reasons[0].code) == ("decline", "watch", "WATCH")
    assert strict.score_codes(later[:40])[1] == ["decline"] * 40
    strict.set_rules(rules_file(tmp_path, rule("allow", "approve", "amount >= 0.0")))
    assert strict.score(later[0]).decision == "approve"
    assert strict.score_codes(later[:40])[1] == ["approve"] * 40


@pytest.mark.parametrize("kind", ["transaction", "login"])
def test_the_rules_page_shows_each_starter_file_as_it_ships(kind: str) -> None:
    """docs/rules.md shows each starter rules file exactly as the package ships it."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "rules.md").read_text()
    assert starter_rules(kind).read_text() in page
