"""Model bundles: a directory with ``model.onnx`` and ``manifest.json``. No pickle anywhere.

Loading verifies the schema version and the sha256 of the graph, and that the feature list is
the one this library computes for the bundle's kind; a tampered or mismatched bundle is refused
with :class:`BundleError`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudscore._errors import BundleError

__all__ = ["SCHEMA_VERSION", "Bundle", "Thresholds", "load_bundle", "save_bundle"]

SCHEMA_VERSION = 1
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Score cut-offs: ``score >= block`` declines (or denies), ``score >= review`` reviews."""

    review: float
    block: float

    def __post_init__(self) -> None:
        from fraudscore._errors import EventValidationError

        for name in ("review", "block"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise EventValidationError(name, v, "a probability in [0, 1]", where="thresholds")
        if self.block < self.review:
            raise EventValidationError(
                "block", self.block, f"a value >= review ({self.review})", where="thresholds"
            )


@dataclass(frozen=True)
class Bundle:
    """A verified model bundle in memory."""

    path: Path
    manifest: dict[str, Any]
    model_bytes: bytes

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.manifest["features"])

    @property
    def version(self) -> str:
        return str(self.manifest["model_version"])

    @property
    def thresholds(self) -> Thresholds:
        t = self.manifest["thresholds"]
        return Thresholds(review=float(t["review"]), block=float(t["block"]))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_bundle(path: str | Path, model_bytes: bytes, manifest: dict[str, Any]) -> Bundle:
    """Write a bundle directory, adding ``schema_version``, ``model_sha256``, ``model_version``."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    digest = sha256(model_bytes)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        **manifest,
        "model_sha256": digest,
        "model_version": f"{manifest['feature_service']}@{digest[:12]}",
    }
    (out / MODEL_FILE).write_bytes(model_bytes)
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return load_bundle(out)


def load_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle directory."""
    from fraudscore._kinds import kind_spec

    root = Path(path)
    manifest_path, model_path = root / MANIFEST_FILE, root / MODEL_FILE
    for p in (manifest_path, model_path):
        if not p.is_file():
            raise BundleError(
                root, f"{p.name} is missing", "Train a model with `fraudscore train`."
            )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(root, f"manifest.json is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BundleError(root, "manifest.json is not a JSON object")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            root,
            f"schema_version is {version!r}, this library reads {SCHEMA_VERSION}",
            "Re-export the model with this version of fraudscore.",
        )
    model_bytes = model_path.read_bytes()
    digest = sha256(model_bytes)
    if manifest.get("model_sha256") != digest:
        raise BundleError(
            root,
            f"model.onnx has sha256 {digest[:16]}..., manifest expects "
            f"{str(manifest.get('model_sha256'))[:16]}...; the bundle was modified",
            "Do not load it; re-export the model.",
        )
    kind = manifest.get("kind")
    spec = kind_spec(kind, where=root)
    if tuple(manifest.get("features", ())) != spec.features:
        raise BundleError(
            root,
            f"its {kind} features differ from this library's",
            "Re-train with this version of fraudscore.",
        )
    for key in ("thresholds", "catalogue", "feature_service", "model_version"):
        if key not in manifest:
            raise BundleError(root, f"manifest.json has no {key!r}")
    bundle = Bundle(path=root, manifest=manifest, model_bytes=model_bytes)
    try:
        bundle.thresholds  # noqa: B018 - validates the stored thresholds
    except Exception as exc:
        raise BundleError(root, f"invalid thresholds: {exc}") from exc
    return bundle
