"""The snapshot of what a scorer serves with: model, reasons, thresholds, challenger, drift and
rules, swapped as one object (:class:`Snapshot`), and how one is made from a bundle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fraudscore._errors import BundleError
from fraudscore._kinds import EventKind
from fraudscore._model.bundle import Bundle, Thresholds, load_bundle, signing_key
from fraudscore._model.runtime import OnnxModel
from fraudscore._serving.drift import DriftTracker
from fraudscore._serving.lists import Matcher
from fraudscore._serving.reasons import ReasonCatalogue
from fraudscore._serving.rules import RuleSet

__all__ = ["Snapshot", "loaded", "snapshot_of"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a call reads that can change while the scorer serves: the model, its
    thresholds, the challenger and the rules, swapped as one object. A call reads it once
    (and the rules' lists once), so it is decided by one snapshot whatever changes meanwhile."""

    bundle: Bundle
    model: OnnxModel
    catalogue: ReasonCatalogue
    thresholds: Thresholds
    version: str
    #: A challenger scored in shadow beside this model, or None.
    shadow: Snapshot | None = None
    #: Live feature and score counts against this model's reference, or None (not tracked).
    drift: DriftTracker | None = None
    #: The rules over the model, or None.
    rules: RuleSet | None = None

    def lists(self) -> Mapping[str, Matcher] | None:
        """The rules' lists now: read once per call, passed to every verdict of the call."""
        return None if self.rules is None else self.rules.lists


def snapshot_of(
    kind: EventKind, bundle: Bundle, thresholds: Thresholds | None, track_drift: bool
) -> Snapshot:
    """A snapshot serving ``bundle`` (of ``kind``) at ``thresholds`` (else the bundle's), its
    drift tracked against the bundle's reference when ``track_drift``; no challenger, no rules."""
    if bundle.kind != kind.name:
        raise BundleError(bundle.path, f"it scores {bundle.kind}s, this scorer {kind.name}s")
    thr = thresholds or bundle.thresholds
    drift = None
    if track_drift:
        ref = bundle.manifest.get("drift_reference")
        if ref is None:
            raise BundleError(bundle.path, "it has no drift reference to track against")
        drift = DriftTracker(ref, kind.features, thr)
    return Snapshot(
        bundle=bundle,
        model=OnnxModel(bundle.model_bytes, len(kind.features)),
        catalogue=ReasonCatalogue(bundle.manifest["catalogue"], kind.features, bundle.path),
        thresholds=thr,
        version=bundle.version,
        drift=drift,
    )


def loaded(bundle: Bundle | str | Path, key: bytes | str | None, required: bool) -> Bundle:
    """A bundle as given, or loaded and verified from its directory."""
    if isinstance(bundle, Bundle):
        return bundle
    return load_bundle(bundle, key=signing_key(key), require_signature=required)
