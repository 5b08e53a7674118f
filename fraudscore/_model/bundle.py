"""Model bundles: ``model.onnx``, ``manifest.json`` and ``integrity.json``. No pickle anywhere.

``integrity.json`` holds the sha256 of each of the other two files and a digest over both, and,
when the bundle is signed, an HMAC-SHA256 of that digest under a secret key. Loading checks every
file's hash (an edited threshold or feature list is refused, naming ``manifest.json``), the
schema version, and that the feature list is the one this library computes for the bundle's
kind. With a key it checks the signature; with ``require_signature`` an unsigned bundle is
refused. A keyless digest catches accidents and partial copies, not an attacker who can also
rewrite ``integrity.json``: that is what the signature is for.

The key comes from the caller, from a key file, or from the ``FRAUDSCORE_BUNDLE_KEY``
environment variable (see :func:`signing_key`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fraudscore._errors import BundleError

__all__ = [
    "SCHEMA_VERSION",
    "Bundle",
    "Thresholds",
    "load_bundle",
    "save_bundle",
    "sign_bundle",
    "signing_key",
]

#: 2: ``integrity.json`` covers the manifest as well as the model.
SCHEMA_VERSION = 2
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
INTEGRITY_FILE = "integrity.json"
KEY_ENV = "FRAUDSCORE_BUNDLE_KEY"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Score cut-offs: ``score >= block`` declines (or denies), ``score >= review`` reviews."""

    review: float
    block: float

    def __post_init__(self) -> None:
        from fraudscore._errors import ConfigError

        for name in ("review", "block"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"thresholds.{name}", v, "a probability in [0, 1]")
        if self.block < self.review:
            raise ConfigError("thresholds.block", self.block, f"a value >= review ({self.review})")

    # The one mapping of a score to a decision, scalar (the scoring path) and on arrays (batches,
    # evaluation, backtests): the index into a kind's ``decisions`` (below review, review, block).

    def level(self, score: float) -> int:
        """2 at or above ``block``, 1 at or above ``review``, else 0 (NaN: 0); compared in
        float64, as :meth:`levels` compares (a float32 would compare in float32)."""
        score = float(score)
        return 2 if score >= self.block else 1 if score >= self.review else 0

    def levels(self, scores: np.ndarray) -> np.ndarray:
        """:meth:`level` of each score, as an int array."""
        scores = np.asarray(scores, dtype=np.float64)
        return (scores >= self.review).astype(np.intp) + (scores >= self.block)

    def decisions(self, scores: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """The decision name of each score (an object array): ``names[level]``."""
        return np.asarray(names, dtype=object)[self.levels(scores)]


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


def signing_key(key: bytes | str | None = None, key_file: str | Path | None = None) -> bytes | None:
    """The signing key: ``key`` itself, else the contents of ``key_file``, else the
    ``FRAUDSCORE_BUNDLE_KEY`` environment variable, else ``None`` (unsigned)."""
    if key is not None:
        return key.encode() if isinstance(key, str) else key
    if key_file is not None:
        try:
            data = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise BundleError(key_file, f"the key file cannot be read ({exc})") from exc
        if not data:
            raise BundleError(key_file, "the key file is empty")
        return data
    env = os.environ.get(KEY_ENV)
    return env.encode() if env else None


def _integrity(manifest_bytes: bytes, model_bytes: bytes) -> dict[str, Any]:
    files = {MANIFEST_FILE: sha256(manifest_bytes), MODEL_FILE: sha256(model_bytes)}
    digest = sha256("".join(f"{name}:{h}\n" for name, h in sorted(files.items())).encode())
    return {"algorithm": "sha256", "files": files, "digest": digest}


def _mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def save_bundle(
    path: str | Path, model_bytes: bytes, manifest: dict[str, Any], *, key: bytes | None = None
) -> Bundle:
    """Write a bundle directory, adding ``schema_version``, ``model_sha256``, ``model_version``
    to the manifest and ``integrity.json`` beside it (signed when ``key`` is given)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    digest = sha256(model_bytes)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        **manifest,
        "model_sha256": digest,
        "model_version": f"{manifest['feature_service']}@{digest[:12]}",
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (out / MODEL_FILE).write_bytes(model_bytes)
    (out / MANIFEST_FILE).write_bytes(manifest_bytes)
    integrity = _integrity(manifest_bytes, model_bytes)
    (out / INTEGRITY_FILE).write_text(json.dumps(integrity, indent=2, sort_keys=True) + "\n")
    if key is not None:
        sign_bundle(out, key)
    return load_bundle(out, key=key)


def sign_bundle(path: str | Path, key: bytes) -> None:
    """Sign a verified bundle in place: HMAC-SHA256 of its digest, written to integrity.json."""
    root = Path(path)
    load_bundle(root)  # never sign what does not verify
    integrity = json.loads((root / INTEGRITY_FILE).read_text())
    integrity["hmac_sha256"] = _mac(key, integrity["digest"])
    (root / INTEGRITY_FILE).write_text(json.dumps(integrity, indent=2, sort_keys=True) + "\n")


def load_bundle(
    path: str | Path, *, key: bytes | None = None, require_signature: bool = False
) -> Bundle:
    """Read and verify a bundle directory (and its signature, given a key)."""
    from fraudscore._kinds import kind_spec

    root = Path(path)
    files = {name: root / name for name in (MANIFEST_FILE, MODEL_FILE, INTEGRITY_FILE)}
    for p in files.values():
        if not p.is_file():
            raise BundleError(
                root, f"{p.name} is missing", "Train a model with `fraudscore train`."
            )
    manifest_bytes = files[MANIFEST_FILE].read_bytes()
    model_bytes = files[MODEL_FILE].read_bytes()
    try:
        manifest = json.loads(manifest_bytes)
        integrity = json.loads(files[INTEGRITY_FILE].read_bytes())
    except (OSError, ValueError) as exc:
        raise BundleError(root, f"a bundle file is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BundleError(root, "manifest.json is not a JSON object")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            root,
            f"schema_version is {version!r}, this library reads {SCHEMA_VERSION}",
            "Re-export the model with this version of fraudscore.",
        )
    _verify(root, integrity, manifest_bytes, model_bytes, key, require_signature)
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
    for name in ("thresholds", "catalogue", "feature_service", "model_version"):
        if name not in manifest:
            raise BundleError(root, f"manifest.json has no {name!r}")
    bundle = Bundle(path=root, manifest=manifest, model_bytes=model_bytes)
    try:
        bundle.thresholds  # noqa: B018 - validates the stored thresholds
    except Exception as exc:
        raise BundleError(root, f"invalid thresholds: {exc}") from exc
    return bundle


def _verify(
    root: Path,
    integrity: Any,
    manifest_bytes: bytes,
    model_bytes: bytes,
    key: bytes | None,
    require_signature: bool,
) -> None:
    """Every file's hash, the digest, and the signature where a key is given or required."""
    expected = _integrity(manifest_bytes, model_bytes)
    stored = integrity.get("files", {}) if isinstance(integrity, dict) else {}
    for name, actual in expected["files"].items():
        if stored.get(name) != actual:
            raise BundleError(
                root,
                f"{name} has sha256 {actual[:16]}..., integrity.json expects "
                f"{str(stored.get(name))[:16]}...; {name} was modified",
                "Do not load it; re-export or re-sign the bundle.",
            )
    signature = integrity.get("hmac_sha256")
    if signature is None:
        if require_signature:
            raise BundleError(
                root, "the bundle is not signed, and a signature is required",
                "Sign it with `fraudscore sign --bundle ... --key-file ...`.",
            )  # fmt: skip
        return
    if key is None:
        if require_signature:
            raise BundleError(root, "a signature is required but no key was given")
        return
    if not hmac.compare_digest(signature, _mac(key, expected["digest"])):
        raise BundleError(
            root,
            "integrity.json's signature does not match this key: the bundle was modified, "
            "or signed with another key",
        )
