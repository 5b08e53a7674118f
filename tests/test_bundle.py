"""Model bundles: verified on load, tampering and mismatches refused, no pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudscore import BundleError, Thresholds, load_bundle, sign_bundle
from fraudscore._model.bundle import SCHEMA_VERSION


@pytest.fixture
def copy(bundle_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "b"
    shutil.copytree(bundle_dir, dst)
    return dst


def edit_manifest(path: Path, **changes: object) -> None:
    m = json.loads((path / "manifest.json").read_text())
    m.update(changes)
    (path / "manifest.json").write_text(json.dumps(m))


def test_manifest_records_the_contract(bundle_dir: Path) -> None:
    """The manifest carries schema, kind, features, service, catalogue, thresholds, hash, window."""
    b = load_bundle(bundle_dir)
    m = b.manifest
    assert m["schema_version"] == SCHEMA_VERSION and m["kind"] == "transaction"
    assert m["feature_service"] == "transaction_model_v4" and m["feast_project"] == "fraudscore"
    for key in (
        "catalogue",
        "thresholds",
        "metrics",
        "training_window",
        "data_fingerprint",
        "xgboost_params",
        "library",
        "model_sha256",
        "features",
    ):
        assert key in m
    assert 0 < b.thresholds.review <= b.thresholds.block < 1
    assert sorted(p.name for p in bundle_dir.iterdir()) == [
        "integrity.json",
        "manifest.json",
        "model.onnx",
    ]


def test_tampered_model_is_refused(copy: Path) -> None:
    """Changing one byte of model.onnx makes loading fail, naming the file."""
    data = bytearray((copy / "model.onnx").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.onnx was modified"):
        load_bundle(copy)


def test_edited_threshold_is_refused(copy: Path) -> None:
    """Raising the block threshold (silently stopping declines) is refused, naming the manifest."""
    m = json.loads((copy / "manifest.json").read_text())
    m["thresholds"]["block"] = 0.999999
    (copy / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
    with pytest.raises(BundleError, match=r"manifest\.json was modified"):
        load_bundle(copy)


def test_swapped_model_file_is_refused(copy: Path, tmp_path: Path) -> None:
    """model.onnx taken from another bundle (its own manifest hash updated too) is refused."""
    from fraudscore import TrainConfig, train_model

    from .conftest import SMALL as CONFIG
    from .conftest import TRAIN, build_features, simulate_transactions

    other = train_model(
        build_features(simulate_transactions(CONFIG)), *TRAIN, tmp_path / "other",
        TrainConfig(max_depth=2),
    ).bundle  # fmt: skip
    shutil.copy(other.path / "model.onnx", copy / "model.onnx")
    with pytest.raises(BundleError, match=r"model\.onnx was modified"):
        load_bundle(copy)
    edit_manifest(copy, model_sha256=other.manifest["model_sha256"])
    with pytest.raises(BundleError, match=r"manifest\.json was modified"):
        load_bundle(copy)


def test_other_schema_version_is_refused(copy: Path) -> None:
    """A bundle of another schema version is refused with the version in the message, before
    anything else is checked."""
    edit_manifest(copy, schema_version=SCHEMA_VERSION - 1)
    with pytest.raises(BundleError, match="schema_version is 1, this library reads 2"):
        load_bundle(copy)


def test_mismatched_features_are_refused(copy: Path) -> None:
    """An edited feature list is refused, by hash; with a matching hash, by the feature check."""
    m = json.loads((copy / "manifest.json").read_text())
    edit_manifest(copy, features=m["features"][::-1])
    with pytest.raises(BundleError, match=r"manifest\.json was modified"):
        load_bundle(copy)
    rehash(copy)
    with pytest.raises(BundleError, match="features differ"):
        load_bundle(copy)


def rehash(path: Path) -> None:
    """Rewrite integrity.json for the files as they are: what an attacker without the key can
    do, and what the signature is for."""
    from fraudscore._model.bundle import _integrity

    data = _integrity((path / "manifest.json").read_bytes(), (path / "model.onnx").read_bytes())
    (path / "integrity.json").write_text(json.dumps(data))


def test_unknown_kind_is_refused(copy: Path) -> None:
    """An unknown kind is refused."""
    edit_manifest(copy, kind="crypto")
    rehash(copy)
    with pytest.raises(BundleError, match="kind"):
        load_bundle(copy)


@pytest.mark.parametrize("name", ["model.onnx", "manifest.json", "integrity.json"])
def test_missing_file_is_refused(copy: Path, name: str) -> None:
    """A bundle without one of its three files is refused, naming the file."""
    (copy / name).unlink()
    with pytest.raises(BundleError, match=name.replace(".", r"\.")):
        load_bundle(copy)


def test_signed_bundle_needs_the_right_key(copy: Path) -> None:
    """Signed with a key: the key verifies it, another key or a re-hash after an edit does not;
    a scorer that requires signatures refuses an unsigned bundle."""
    with pytest.raises(BundleError, match="not signed"):
        load_bundle(copy, require_signature=True)
    sign_bundle(copy, b"team secret")
    assert load_bundle(copy, key=b"team secret", require_signature=True).version
    with pytest.raises(BundleError, match="signature does not match"):
        load_bundle(copy, key=b"another key")
    with pytest.raises(BundleError, match="no key"):
        load_bundle(copy, require_signature=True)
    # An attacker edits the threshold and recomputes every hash, but cannot sign.
    m = json.loads((copy / "manifest.json").read_text())
    m["thresholds"]["block"] = 0.999999
    (copy / "manifest.json").write_text(json.dumps(m))
    integrity = json.loads((copy / "integrity.json").read_text())
    rehash(copy)
    forged = {
        **json.loads((copy / "integrity.json").read_text()),
        "hmac_sha256": integrity["hmac_sha256"],
    }
    (copy / "integrity.json").write_text(json.dumps(forged))
    assert load_bundle(copy).thresholds.block == 0.999999  # no key: only the hashes are checked
    with pytest.raises(BundleError, match="signature does not match"):
        load_bundle(copy, key=b"team secret")


def test_scorer_and_cli_check_signatures(
    copy: Path, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scorer.open refuses an unsigned bundle when signatures are required; fraudscore sign
    signs with a key file, and the environment variable supplies the key to verify."""
    from click.testing import CliRunner

    from fraudscore import Scorer
    from fraudscore._cli import main

    with pytest.raises(BundleError, match="not signed"):
        Scorer.open(copy, repo, require_signature=True)
    key = tmp_path / "key"
    key.write_text("k3y-material\n")
    result = CliRunner().invoke(main, ["sign", "--bundle", str(copy), "--key-file", str(key)])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("FRAUDSCORE_BUNDLE_KEY", "k3y-material")
    assert Scorer.open(copy, repo, require_signature=True).version
    monkeypatch.setenv("FRAUDSCORE_BUNDLE_KEY", "wrong")
    with pytest.raises(BundleError, match="signature does not match"):
        Scorer.open(copy, repo)


def is_pickle(data: bytes) -> bool:
    """Whether ``data`` parses as a pickle of any protocol (0 to 5), without running it."""
    import pickletools

    try:
        for opcode, _, _ in pickletools.genops(data):
            if opcode.name == "STOP":
                return True
    except Exception:
        return False
    return False


def test_bundle_holds_no_pickle(bundle_dir: Path) -> None:
    """Neither file is a pickle of any protocol: the manifest is JSON and the model an ONNX
    protobuf."""
    import pickle

    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):  # the detector knows every protocol
        assert is_pickle(pickle.dumps({"model": [1.5, "x"]}, protocol=protocol)), protocol
    files = list(bundle_dir.iterdir())
    assert {f.name for f in files} == {"model.onnx", "manifest.json", "integrity.json"}
    for f in files:
        assert not is_pickle(f.read_bytes()), f.name
    json.loads((bundle_dir / "manifest.json").read_text())
    json.loads((bundle_dir / "integrity.json").read_text())
    import onnx

    onnx.checker.check_model(onnx.load(bundle_dir / "model.onnx"))


@given(
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.lists(st.one_of(st.floats(0.0, 1.0), st.just(float("nan"))), min_size=1, max_size=50),
)
def test_one_decision_mapping_scalar_and_arrays(a: float, b: float, scores: list[float]) -> None:
    """A score maps to one decision, the same on the scoring path (``level``) and on arrays
    (``levels``, ``decisions``): block at or above ``block``, review at or above ``review``."""
    t = Thresholds(review=min(a, b), block=max(a, b))
    scores = [*scores, t.review, t.block]  # exactly at a threshold: the higher decision
    names = ("approve", "review", "decline")
    expected = [
        2 if s >= t.block else 1 if s >= t.review else 0 for s in scores
    ]  # the contract, spelled out
    assert [t.level(s) for s in scores] == expected
    assert t.levels(np.array(scores)).tolist() == expected
    assert t.decisions(np.array(scores), names).tolist() == [names[i] for i in expected]
    as_float32 = [float(np.float32(s)) for s in scores]  # a float32 score compares as float64
    assert [t.level(np.float32(s)) for s in scores] == t.levels(np.array(as_float32)).tolist()


@pytest.mark.parametrize(
    ("score", "decision"),
    [(0.0, "approve"), (0.29, "approve"), (0.3, "review"), (0.69, "review"), (0.7, "decline"),
     (1.0, "decline"), (float("nan"), "approve")],
)  # fmt: skip
def test_the_decision_of_a_score(score: float, decision: str) -> None:
    """Review from 0.3, decline from 0.7 (both inclusive); a NaN score is approved."""
    t, names = Thresholds(review=0.3, block=0.7), ("approve", "review", "decline")
    assert names[t.level(score)] == decision
    assert t.decisions(np.array([score]), names).tolist() == [decision]
