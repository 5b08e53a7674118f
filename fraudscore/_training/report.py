"""The evaluation report: one self-contained HTML file, plots embedded as PNG.

For one :class:`Evaluation`, or two side by side (champion then challenger, on the same test
days). Sections, each an ``<section id=...>``:

- ``summary``: windows, counts, the protocol, and every model's metrics;
- ``curves``: precision-recall and ROC curves of the models and their baselines;
- ``distributions``: score distributions by class;
- ``thresholds``: alert (or challenge) rate, precision, recall, and frauds (or takeovers) caught
  per 10,000 events, at the bundle's thresholds and at alert rates around them;
- ``reasons``: how often each reason code appears among flagged events;
- ``contributions``: mean absolute contribution per feature;
- ``challenge`` (logins): takeover recall against challenge rate, as security teams read it.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import TrainingError
from fraudscore._kinds import kind_spec
from fraudscore._training.evaluate import Evaluation

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from fraudscore._redteam.harness import RedTeamReport
    from fraudscore._training.backtest import Backtest

__all__ = ["SECTIONS", "SHADOW_SECTIONS", "write_report", "write_shadow_report"]

SECTIONS = ("summary", "curves", "distributions", "thresholds", "reasons", "contributions")
#: Alert rates of the threshold table, besides the bundle's own thresholds.
_RATES = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1d232a; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.bundle td { background: #fff4d6; font-weight: 600; }
tr.muted td { color: #777; font-style: italic; }
.side { display: flex; gap: 2rem; flex-wrap: wrap; align-items: flex-start; }
.note { color: #57606a; } img { max-width: 100%; }
"""


def write_report(
    path: str | Path,
    evaluations: Sequence[Evaluation],
    *,
    backtest: Backtest | None = None,
    red_team: RedTeamReport | None = None,
) -> Path:
    """Write the HTML report of one evaluation, or of two (champion, challenger); with a
    :class:`Backtest` of a rule set, its per-rule and combined tables too; with a
    :class:`RedTeamReport` (:func:`fraudscore.red_team`), the adaptive attackers' table."""
    evaluations = list(evaluations)
    if not 1 <= len(evaluations) <= 2:
        raise TrainingError(f"a report takes one or two evaluations, got {len(evaluations)}")
    kinds = {e.kind for e in evaluations}
    windows = {str(e.metrics["test_window"]) for e in evaluations}
    if len(kinds) > 1 or len(windows) > 1:
        raise TrainingError(
            f"the evaluations must share a kind and a test window (got {sorted(kinds)}, "
            f"{sorted(windows)})"
        )
    import matplotlib

    matplotlib.use("Agg")
    names = ["champion", "challenger"] if len(evaluations) == 2 else ["model"]
    labelled = list(zip(names, evaluations, strict=True))
    kind = kind_spec(evaluations[0].kind)
    parts = [
        _summary(labelled),
        _curves(labelled),
        _distributions(labelled),
        _thresholds(labelled),
        _reasons(labelled),
        _contributions(labelled),
    ]
    if kind.protocol.rate_curve:
        parts.append(_rate_curve(labelled))
    if backtest is not None:
        parts.append(rules_section(backtest))
    if red_team is not None:
        parts.append(red_team_section(red_team))
    title = f"fraudscore {kind.name} report: {' vs '.join(e.bundle.version for e in evaluations)}"
    window = evaluations[0].metrics["test_window"]
    note = f"<p class='note'>Test days {window['start']} to {window['end']}.</p>"
    return _document(path, title, [note, *parts])


# Sections -------------------------------------------------------------------------------------


def rules_section(bt: Backtest) -> str:
    """The rules' backtest: one row per rule, then the model alone against model + rules."""
    (header, rows, shadows), (effect_header, effect, _) = bt.tables()
    caught = kind_spec(bt.kind).protocol.positives
    note = (
        f"<p class='note'>{bt.events:,} scored events from {bt.start} to {bt.end}, "
        f"{bt.positives:,} {caught}. Each rule is counted on its own; the combined rows apply "
        f"the rules in their file's order over the model's decisions.</p>"
    )
    classes = ["muted" if shadow else "" for shadow in shadows]
    body = (
        note + _table(header, rows, classes) + "<h3>Combined</h3>" + _table(effect_header, effect)
    )
    return _section("rules", "Rules backtest", body)


def red_team_section(report: RedTeamReport) -> str:
    """The red team: one row per strategy (and rules setting), in a fraud team's units."""
    header, rows = report.rows()
    note = (
        f"<p class='note'>Adaptive attackers replayed through the real scorer on a private copy "
        f"of the store, {report.days:g} days each, the victims' own traffic interleaved, no "
        f"label arriving. Flagged and blocked: shares of the attempts that counted; "
        f"{_e(report.gain_name)} per {_e(report.entity_name)}: what the attacker got before the "
        f"first block, also against the victim's normal activity over the same days; the "
        f"victims' own events flagged during the attack, beside the same traffic with no "
        f"attack.</p>"
    )
    return _section("redteam", "Red team", note + _table(header, rows))


def _summary(labelled: list[tuple[str, Evaluation]]) -> str:
    rows = []
    info = []
    for name, ev in labelled:
        m = ev.metrics
        counts = ", ".join(
            f"{k.removeprefix('test_').replace('_', ' ')}: {v:,}"
            for k, v in m.items()
            if k.startswith("test_") and isinstance(v, int)
        )
        rule = m.get("known_compromised")
        info.append(
            f"<li><b>{_e(name)}</b> {_e(ev.bundle.version)}: trained on "
            f"{m['training_window']['start']}..{m['training_window']['end']}, "
            f"{m['label_delay_gap_days']} day(s) of label delay; {counts}"
            + (f"; known compromised dropped: {_e(rule)} rule" if rule else "")
            + "</li>"
        )
        for model, metrics in m["models"].items():
            if model == "model" or _own_baselines(labelled, len(info) - 1):
                rows.append([f"{name}: {model}", *(f"{v:.3f}" for v in metrics.values())])
    header = ["model", *next(iter(labelled[0][1].metrics["models"].values()))]
    return _section(
        "summary",
        "Summary",
        f"<ul>{''.join(info)}</ul>" + _table(header, rows),
    )


def _curves(labelled: list[tuple[str, Evaluation]]) -> str:
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig, (pr, roc) = _figure(1, 2, (11, 4.4))
    for name, ev, column, style in _series(labelled):
        y, s = _labels(ev), ev.scores[column].to_numpy()
        p, r, _ = precision_recall_curve(y, s)
        f, t, _ = roc_curve(y, s)
        label = f"{name}: {column.removeprefix('score_') if column != 'score' else 'model'}"
        pr.plot(r, p, style, label=label, lw=1.4)
        roc.plot(f, t, style, label=label, lw=1.4)
    pr.set(xlabel="recall", ylabel="precision", title="Precision-recall", xlim=(0, 1), ylim=(0, 1))
    roc.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    roc.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC")
    roc.set_xscale("log")
    roc.set_xlim(1e-4, 1)
    pr.legend(fontsize=8, loc="lower left")
    return _section("curves", "Precision-recall and ROC curves", _png(fig))


def _distributions(labelled: list[tuple[str, Evaluation]]) -> str:
    fig, axes = _figure(1, len(labelled), (5.5 * len(labelled), 3.8))
    kind = kind_spec(labelled[0][1].kind)
    positive = kind.protocol.positives
    bins = np.linspace(0, 1, 51)
    for ax, (name, ev) in zip(axes, labelled, strict=True):
        y, s = _labels(ev), ev.scores["score"].to_numpy()
        ax.hist(s[y == 0], bins=bins, alpha=0.6, label="genuine", density=True)
        ax.hist(s[y == 1], bins=bins, alpha=0.6, label=positive, density=True)
        t = ev.bundle.thresholds
        for value, what in ((t.review, kind.decisions[1]), (t.block, kind.decisions[2])):
            ax.axvline(value, ls="--", color="black", lw=0.8)
            ax.text(value, ax.get_ylim()[1] * 0.9, f" {what}", fontsize=8)
        ax.set_yscale("log")
        ax.set(xlabel="score", ylabel="density (log)", title=f"{name}: scores by class")
        ax.legend(fontsize=8)
    return _section("distributions", "Score distributions by class", _png(fig))


def _thresholds(labelled: list[tuple[str, Evaluation]]) -> str:
    kind = kind_spec(labelled[0][1].kind)
    rate, caught = kind.protocol.flag_rate, kind.protocol.positives
    header = ["threshold", rate, "precision", "recall", f"{caught} caught per 10,000 events"]
    blocks = []
    for name, ev in labelled:
        y, s = _labels(ev), ev.scores["score"].to_numpy()
        t = ev.bundle.thresholds
        marks = {t.review: kind.decisions[1], t.block: kind.decisions[2]}
        cuts = {float(np.quantile(s, 1 - r, method="higher")): "" for r in _RATES}
        cuts.update(marks)
        rows, classes = [], []
        for cut in sorted(cuts, reverse=True):
            flagged = s >= cut
            n = int(flagged.sum())
            tp = int((flagged & (y == 1)).sum())
            label = f"{cut:.4f}" + (f" ({marks[cut]}, bundle)" if cut in marks else "")
            rows.append(
                [
                    label,
                    f"{n / len(s):.2%}",
                    f"{tp / n:.3f}" if n else "-",
                    f"{tp / max(int(y.sum()), 1):.3f}",
                    f"{10_000 * tp / len(s):.1f}",
                ]
            )
            classes.append("bundle" if cut in marks else "")
        blocks.append(f"<div><h3>{_e(name)}</h3>{_table(header, rows, classes)}</div>")
    note = (
        f"<p class='note'>Each row flags the test events scored at or above the threshold; "
        f"highlighted rows are the bundle's own {kind.decisions[1]} and {kind.decisions[2]} "
        f"thresholds, the others the thresholds of alert rates around them.</p>"
    )
    return _section("thresholds", "Thresholds", note + f"<div class='side'>{''.join(blocks)}</div>")


def _reasons(labelled: list[tuple[str, Evaluation]]) -> str:
    import pandas as pd

    kind = kind_spec(labelled[0][1].kind)
    blocks = []
    fig, axes = _figure(1, len(labelled), (5.5 * len(labelled), 4))
    for ax, (name, ev) in zip(axes, labelled, strict=True):
        flagged = ev.scores[ev.scores["decision"] != kind.decisions[0]]
        top = flagged["reason_1"].value_counts()
        anywhere = pd.Series(
            flagged[["reason_1", "reason_2", "reason_3"]].to_numpy().ravel()
        ).value_counts()
        codes = list(anywhere.index)
        share = anywhere / max(len(flagged), 1)
        rows = [
            [code, f"{int(top.get(code, 0)):,}", f"{int(anywhere[code]):,}", f"{share[code]:.1%}"]
            for code in codes
        ]
        blocks.append(
            f"<div><h3>{_e(name)}: {len(flagged):,} flagged events</h3>"
            + _table(["reason code", "first reason", "among top 3", "share of flagged"], rows)
            + "</div>"
        )
        ax.barh(codes[::-1], [anywhere[c] for c in codes[::-1]])
        ax.set(xlabel="flagged events with the code among their top 3", title=name)
    return _section(
        "reasons",
        "Reason codes among flagged events",
        f"<div class='side'>{''.join(blocks)}</div>" + _png(fig),
    )


def _contributions(labelled: list[tuple[str, Evaluation]]) -> str:
    fig, axes = _figure(1, len(labelled), (5.5 * len(labelled), 6))
    for ax, (name, ev) in zip(axes, labelled, strict=True):
        features = list(ev.bundle.features)
        mean_abs = np.abs(ev.contributions[:, : len(features)]).mean(axis=0)
        order = np.argsort(mean_abs)
        ax.barh([features[i] for i in order], mean_abs[order])
        ax.set(xlabel="mean |contribution| (log-odds)", title=name)
    return _section("contributions", "Mean absolute contribution per feature", _png(fig))


def _rate_curve(labelled: list[tuple[str, Evaluation]]) -> str:
    protocol = kind_spec(labelled[0][1].kind).protocol
    rate, caught = protocol.flag_rate, protocol.positives
    fig, (ax,) = _figure(1, 1, (6.5, 4.2))
    rates = np.linspace(0.001, 0.1, 100)
    rows = []
    for name, ev, column, style in _series(labelled):
        y, s = _labels(ev), ev.scores[column].to_numpy()
        order = np.argsort(-s, kind="stable")
        found = np.cumsum(y[order]) / max(int(y.sum()), 1)
        recall = [found[max(1, round(r * len(s))) - 1] for r in rates]
        label = f"{name}: {column.removeprefix('score_') if column != 'score' else 'model'}"
        ax.plot(rates * 100, recall, style, label=label)
        rows.append(
            [label, *(f"{recall[int(np.argmin(abs(rates - r)))]:.3f}" for r in (0.01, 0.05))]
        )
    ax.set(xlabel=f"{rate} (% of {protocol.scored_events})", ylabel=f"recall of {caught}")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="lower right")
    table = _table(["model", f"recall at a 1% {rate}", f"recall at a 5% {rate}"], rows)
    return _section("challenge", f"Recall of {caught} against {rate}", _png(fig) + table)


# The shadow log ---------------------------------------------------------------------------------

SHADOW_SECTIONS = ("summary", "curves", "thresholds", "disagreements")


def write_shadow_report(path: str | Path, log: Any, labels: Any, kind: str) -> Path:
    """An HTML report of a shadow log (``Scorer.shadow_log()`` records, or a frame of them)
    joined with labels: the champion against the challenger on the same live events.

    ``labels`` is a frame with the kind's id column and label (``is_fraud`` or ``is_ato``);
    logged events without a label are left out and counted.
    """
    import matplotlib
    import pandas as pd
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    matplotlib.use("Agg")
    spec = kind_spec(kind, where="kind")
    frame = log if isinstance(log, pd.DataFrame) else pd.DataFrame([asdict(r) for r in log])
    if frame.empty:
        raise TrainingError("the shadow log is empty: set a challenger and score some events")
    truth = labels[[spec.id_field, spec.label]].rename(columns={spec.id_field: "event_id"})
    joined = frame.drop_duplicates("event_id", keep="last").merge(truth, on="event_id")
    y = joined[spec.label].to_numpy().astype(int)
    if len(np.unique(y)) < 2:
        raise TrainingError("the labelled shadow events need both classes to compare models")
    names = {
        "champion": joined["champion_version"].iloc[-1],
        "challenger": joined["challenger_version"].iloc[-1],
    }
    rows = []
    for who in names:
        s = joined[f"{who}_score"].to_numpy()
        rows.append([f"{who}: {names[who]}", f"{roc_auc_score(y, s):.3f}",
                     f"{average_precision_score(y, s):.3f}"])  # fmt: skip
    summary = (
        f"<p>{len(frame):,} logged events, {len(joined):,} with a label "
        f"({int(y.sum()):,} positive).</p>"
        + _table(["model", "ROC AUC", "average precision"], rows)
    )
    fig, (ax,) = _figure(1, 1, (6.5, 4.2))
    for who, style in (("champion", "-"), ("challenger", "--")):
        p, r, _ = precision_recall_curve(y, joined[f"{who}_score"])
        ax.plot(r, p, style, label=who)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall on live events")
    ax.legend(fontsize=8, loc="lower left")
    header = ["model", "flagged", "share of events", "precision", "recall"]
    positives = max(int(y.sum()), 1)
    table_rows = []
    for who in names:
        decisions = joined[f"{who}_decision"].to_numpy()
        levels = {
            f"{spec.decisions[1]} or {spec.decisions[2]}": np.isin(decisions, spec.decisions[1:]),
            spec.decisions[2]: decisions == spec.decisions[2],
        }
        for level, flagged in levels.items():
            n, tp = int(flagged.sum()), int((flagged & (y == 1)).sum())
            precision = f"{tp / n:.3f}" if n else "-"
            table_rows.append([who, level, f"{n / len(y):.2%}", precision, f"{tp / positives:.3f}"])
    differ = joined[joined["champion_decision"] != joined["challenger_decision"]]
    crosstab = pd.crosstab(differ["champion_decision"], differ["challenger_decision"])
    cells = [
        [str(i), *map(str, row)] for i, row in zip(crosstab.index, crosstab.values, strict=True)
    ]
    disagree = (
        f"<p>{len(differ):,} of {len(joined):,} labelled events decided differently "
        f"({int(differ[spec.label].sum()):,} of them positive).</p>"
        + _table(["champion \\ challenger", *map(str, crosstab.columns)], cells)
    )
    parts = [
        _section("summary", "Summary", summary),
        _section("curves", "Precision-recall", _png(fig)),
        _section("thresholds", "Decisions at each model's thresholds", _table(header, table_rows)),
        _section("disagreements", "Where they disagree", disagree),
    ]
    title = f"fraudscore shadow report: {names['champion']} vs {names['challenger']}"
    return _document(path, title, parts)


# Helpers --------------------------------------------------------------------------------------


def _document(path: str | Path, title: str, parts: Sequence[str]) -> Path:
    """Write one self-contained HTML page: the title, then ``parts``."""
    doc = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{_e(title)}</h1>"
        + "".join(parts)
        + "</body></html>"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out


def _series(labelled: list[tuple[str, Evaluation]]) -> list[tuple[str, Evaluation, str, str]]:
    """(bundle name, evaluation, score column, line style): each model and its baselines; a
    challenger's baselines only when they differ (another training window)."""
    out = []
    for i, (name, ev) in enumerate(labelled):
        dash = "-" if i == 0 else "--"
        for column in ev.scores.columns:
            if column == "score" or (column.startswith("score_") and _own_baselines(labelled, i)):
                out.append((name, ev, column, dash))
    return out


def _own_baselines(labelled: list[tuple[str, Evaluation]], i: int) -> bool:
    """Whether evaluation ``i`` has baselines of its own: they are trained on the bundle's
    training window, so a challenger on the champion's window has the champion's."""
    window = labelled[i][1].metrics["training_window"]
    return i == 0 or window != labelled[0][1].metrics["training_window"]


def _labels(ev: Evaluation) -> np.ndarray:
    return ev.scores[kind_spec(ev.kind).label].to_numpy().astype(int)


def _figure(rows: int, cols: int, size: tuple[float, float]) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    axes: list[Axes] = list(np.atleast_1d(fig.subplots(rows, cols)))
    return fig, axes


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='plot' src='data:image/png;base64,{data}'>"


def _section(anchor: str, title: str, body: str) -> str:
    return f"<section id='{anchor}'><h2>{_e(title)}</h2>{body}</section>"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], classes: Any = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        f"<tr class='{classes[i] if classes else ''}'>"
        + "".join(f"<td>{_e(v)}</td>" for v in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
