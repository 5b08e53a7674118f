"""Model bundles: verified on load, tampering and mismatches refused, no pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fraudscore import BundleError, load_bundle
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
    assert m["feature_service"] == "transaction_model_v2" and m["feast_project"] == "fraudscore"
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
    assert sorted(p.name for p in bundle_dir.iterdir()) == ["manifest.json", "model.onnx"]


def test_tampered_model_is_refused(copy: Path) -> None:
    """Changing one byte of model.onnx makes loading fail on the sha256."""
    data = bytearray((copy / "model.onnx").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(copy)


def test_other_schema_version_is_refused(copy: Path) -> None:
    """A bundle of another schema version is refused with the version in the message."""
    edit_manifest(copy, schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(BundleError, match="schema_version"):
        load_bundle(copy)


def test_mismatched_features_are_refused(copy: Path) -> None:
    """A bundle whose feature list differs from this library's is refused."""
    m = json.loads((copy / "manifest.json").read_text())
    edit_manifest(copy, features=m["features"][::-1])
    with pytest.raises(BundleError, match="features differ"):
        load_bundle(copy)


def test_unknown_kind_is_refused(copy: Path) -> None:
    """An unknown kind is refused."""
    edit_manifest(copy, kind="crypto")
    with pytest.raises(BundleError, match="kind"):
        load_bundle(copy)


@pytest.mark.parametrize("name", ["model.onnx", "manifest.json"])
def test_missing_file_is_refused(copy: Path, name: str) -> None:
    """A bundle without one of its two files is refused, naming the file."""
    (copy / name).unlink()
    with pytest.raises(BundleError, match=name.replace(".", r"\.")):
        load_bundle(copy)


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
    assert {f.name for f in files} == {"model.onnx", "manifest.json"}
    for f in files:
        assert not is_pickle(f.read_bytes()), f.name
    json.loads((bundle_dir / "manifest.json").read_text())
    import onnx

    onnx.checker.check_model(onnx.load(bundle_dir / "model.onnx"))
