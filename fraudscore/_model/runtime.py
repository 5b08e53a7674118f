"""The ONNX graph at run time: one onnxruntime session, single-threaded per call.

We fetch only the ``contributions`` output and take the score as ``sigmoid(sum(contributions))``
in float64. That is the graph's own ``probability`` (ReduceSum -> Sigmoid) to float32 rounding,
but it is computed the same way for every row whatever the batch size and the CPU, so
``score_many`` equals ``score`` exactly (onnxruntime's vectorised Sigmoid rounds differently for
1 row and for many):

- the margin is the float64 sum of the row's contributions strictly left to right: a Python
  loop for one row, a running sum (``np.cumsum``, a defined recurrence) for many. Not Python's
  ``sum``, which is compensated from Python 3.12 on, nor a BLAS product or numpy's pairwise
  reduction, whose order depends on the kernel, the CPU and the array's length;
- the sigmoid is ``math.exp`` for both (numpy's SIMD ``exp`` differs from libm on some CPUs).

The graph computes in float32. Features reach it through :func:`as_model_input`, as they reach
XGBoost in training: a value beyond float32's finite range (about 3.4e38) is clipped to the
largest finite float32 of its sign, never cast to an infinity; NaN stays NaN (missing). Events
keep their own values far inside that range (``Transaction.amount`` is at most 1e15).

onnxruntime errors are mapped to :class:`ModelError`. ``InferenceSession.run`` is thread-safe,
so one session serves every thread of the process.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from fraudscore._errors import ModelError

__all__ = ["F32_MAX", "OnnxModel", "as_model_input", "score_of", "scores_of"]

#: The largest finite float32: features beyond it are clipped to it (``as_model_input``).
F32_MAX = float(np.finfo(np.float32).max)


def as_model_input(x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Features ``(N, F)`` as the model takes them: float32, each value clipped to float32's
    finite range (NaN kept). The one cast from features to the model, in training and serving."""
    return np.clip(np.asarray(x, dtype=np.float64), -F32_MAX, F32_MAX).astype(np.float32)


class OnnxModel:
    """Runs ``features[N, F] float32 -> (probability[N], contributions[N, F+1])``."""

    def __init__(self, model_bytes: bytes, n_features: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                model_bytes, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelError(f"onnxruntime could not load the model graph: {exc}") from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or inputs[0].shape[-1] != n_features:
            raise ModelError(
                f"the graph takes {[(i.name, i.shape) for i in inputs]}, "
                f"expected one input of {n_features} features"
            )
        self._input = inputs[0].name
        self._outputs = ["contributions"]
        # The C++ session's run, without the Python wrapper's per-call argument checks: input
        # name, dtype and width are fixed and checked above, once.
        self._run = getattr(self._session, "_sess", self._session).run
        self.n_features = n_features
        # One run now, so that the first scored event does not pay for onnxruntime's lazy setup.
        self.contributions(np.zeros((1, n_features)))

    def contributions(self, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Contributions ``(N, F+1)`` of features ``(N, F)`` (``as_model_input``), the last
        column the bias."""
        return self._contributions(as_model_input(x))

    def _contributions(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        try:
            (contrib,) = self._run(self._outputs, {self._input: x}, None)
        except Exception as exc:
            raise ModelError(f"onnxruntime failed to run the graph: {exc}") from exc
        return contrib

    def run(self, x: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
        """Scores ``(N,)`` and contributions ``(N, F+1)``, the last column being the bias."""
        contrib = self.contributions(x)
        return scores_of(contrib), contrib

    def run_one(self, x: list[float]) -> tuple[float, list[float]]:
        """The score and contributions ``(F+1,)`` of one row: ``run`` on floats, without numpy's
        per-call overhead on the score."""
        for v in x:
            if v == v and not -F32_MAX <= v <= F32_MAX:  # as_model_input, without numpy
                x = [min(max(v, -F32_MAX), F32_MAX) if v == v else v for v in x]
                break
        contrib = self._contributions(np.array([x], dtype=np.float32))[0].tolist()
        return score_of(contrib), contrib


def score_of(contributions: list[float]) -> float:
    """``sigmoid(sum(contributions))`` in float64, summed left to right: the same for a row
    whatever the batch it came in."""
    margin = 0.0
    for c in contributions:
        margin += c
    return _sigmoid(margin)


def scores_of(contrib: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """``score_of`` of every row of ``contrib (N, F+1)``, bit for bit."""
    if not len(contrib):
        return np.zeros(0)
    margins = np.cumsum(contrib, axis=1, dtype=np.float64)[:, -1]
    return np.array([_sigmoid(m) for m in margins.tolist()])


def _sigmoid(margin: float) -> float:
    if margin >= 0.0:
        return 1.0 / (1.0 + math.exp(-margin))
    e = math.exp(margin)  # never overflows for a very negative margin
    return e / (1.0 + e)
