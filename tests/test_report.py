"""The HTML report: every section, embedded PNGs, champion vs challenger, headless Chromium."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from datetime import date
from html import escape as html_escape
from pathlib import Path

import pandas as pd
import pytest

from fraudscore import (
    Evaluation,
    OfflineFeatures,
    TrainConfig,
    TrainedModel,
    TrainingError,
    evaluate,
    train_model,
    write_report,
)
from fraudscore._training.report import SECTIONS

from .conftest import CUTOFF, LOGIN_TRAIN, TRAIN

TEST_DAYS = (date(2018, 5, 3), date(2018, 5, 9))
LOGIN_TEST_DAYS = (date(2018, 5, 2), date(2018, 5, 8))


@pytest.fixture(scope="module")
def champion(trained: TrainedModel, offline: OfflineFeatures) -> Evaluation:
    return evaluate(trained.bundle, offline, *TEST_DAYS)


@pytest.fixture(scope="module")
def challenger(tmp_path_factory: pytest.TempPathFactory, offline: OfflineFeatures) -> Evaluation:
    out = tmp_path_factory.mktemp("challenger") / "bundle"
    bundle = train_model(offline, *TRAIN, out, TrainConfig(max_depth=3, learning_rate=0.2)).bundle
    return evaluate(bundle, offline, *TEST_DAYS)


def sections(html: str) -> dict[str, str]:
    return dict(re.findall(r"<section id='([a-z]+)'>(.*?)</section>", html, flags=re.S))


def pngs(html: str) -> list[bytes]:
    return [
        base64.b64decode(b) for b in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    ]


def test_transaction_report_has_every_section(champion: Evaluation, tmp_path: Path) -> None:
    """One file: every section, plots as embedded PNGs, nothing loaded from elsewhere, the
    bundle's thresholds in the threshold table and every flagged event's reason codes counted."""
    html = write_report(tmp_path / "r.html", [champion]).read_text()
    found = sections(html)
    assert list(found) == list(SECTIONS)
    images = pngs(html)
    assert len(images) == 4 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in images)
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", html)
    t = champion.bundle.thresholds
    assert f"{t.review:.4f} (review, bundle)" in found["thresholds"]
    assert f"{t.block:.4f} (decline, bundle)" in found["thresholds"]
    flagged = champion.scores[champion.scores["decision"] != "approve"]
    first = flagged["reason_1"].value_counts()
    for code, count in first.items():
        assert f"<td>{code}</td><td>{count:,}</td>" in found["reasons"]
    for name in ("model", "baseline_logistic_regression", "baseline_xgboost_raw_fields"):
        assert f"model: {name}" in found["summary"]
    assert "handbook rule" in found["summary"]


def test_champion_and_challenger_side_by_side(
    champion: Evaluation, challenger: Evaluation, tmp_path: Path
) -> None:
    """Two bundles on the same window: both named, both metric rows and threshold tables."""
    html = write_report(tmp_path / "r.html", [champion, challenger]).read_text()
    found = sections(html)
    for name, ev in (("champion", champion), ("challenger", challenger)):
        assert ev.bundle.version in found["summary"]
        assert f"{name}: model" in found["summary"]
        assert f"<h3>{name}</h3>" in found["thresholds"]
    assert champion.bundle.version != challenger.bundle.version


def test_report_refuses_evaluations_of_different_windows(
    champion: Evaluation, trained: TrainedModel, offline: OfflineFeatures, tmp_path: Path
) -> None:
    """Champion and challenger must be compared on the same test days."""
    other = evaluate(trained.bundle, offline, date(2018, 5, 4), date(2018, 5, 9))
    with pytest.raises(TrainingError, match="share a kind and a test window"):
        write_report(tmp_path / "r.html", [champion, other])


def test_login_report_has_challenge_curve(
    login_trained: TrainedModel, login_offline: OfflineFeatures, tmp_path: Path
) -> None:
    """A login report adds takeover recall against challenge rate, with the Freeman baseline."""
    ev = evaluate(login_trained.bundle, login_offline, *LOGIN_TEST_DAYS)
    html = write_report(tmp_path / "r.html", [ev]).read_text()
    found = sections(html)
    assert list(found) == [*SECTIONS, "challenge"]
    assert "model: baseline_freeman" in found["challenge"]
    assert "(challenge, bundle)" in found["thresholds"] and "(deny, bundle)" in found["thresholds"]
    assert LOGIN_TRAIN[0].isoformat() in found["summary"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    _chromium() is None and not os.environ.get("FRAUDSCORE_REQUIRE_CHROMIUM"),
    reason="no chromium here (CI installs it and sets FRAUDSCORE_REQUIRE_CHROMIUM)",
)
def test_report_renders_in_headless_chromium(champion: Evaluation, tmp_path: Path) -> None:
    """Headless Chromium opens the report and takes a screenshot of a real, non-blank page."""
    from PIL import Image

    chromium = _chromium()
    assert chromium, "FRAUDSCORE_REQUIRE_CHROMIUM is set but chromium is not installed"
    report = write_report(tmp_path / "r.html", [champion])
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
            "--window-size=1200,2400", f"--screenshot={shot}", report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    image = Image.open(shot).convert("L")
    assert image.size == (1200, 2400)
    low, high = image.getextrema()
    assert high - low > 100  # text and plots, not a blank page
    colours = len(set(Image.open(shot).convert("RGB").getdata()))
    assert colours > 50  # the embedded plots rendered


def test_the_red_team_section_holds_every_strategys_row(
    champion: Evaluation, bundle_dir: Path, built_repo: Path, sim: pd.DataFrame, tmp_path: Path
) -> None:
    """With a red team's report, the HTML has its section: one row per strategy and rules
    setting, with the numbers the report holds."""
    from fraudscore import red_team, starter_rules

    attacked = red_team(
        bundle_dir,
        built_repo,
        sim[sim["timestamp"] < CUTOFF],
        strategies=["naive_spree", "burst"],
        victims=4,
        days=1,
        start=CUTOFF.to_pydatetime(),
        rules=starter_rules("transaction"),
    )
    html = write_report(tmp_path / "r.html", [champion], red_team=attacked).read_text()
    section = sections(html)["redteam"]
    header, rows = attacked.rows()
    assert all(f"<th>{html_escape(h)}</th>" in section for h in header)
    assert len(rows) == 4  # two strategies, model alone and with rules
    for row in rows:
        assert "".join(f"<td>{html_escape(cell)}</td>" for cell in row) in section
    assert "redteam" not in sections(write_report(tmp_path / "p.html", [champion]).read_text())
