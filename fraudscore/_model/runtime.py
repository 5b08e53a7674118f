"""The ONNX graph at run time: one onnxruntime session, single-threaded per call.

We fetch only the ``contributions`` output and take the score as ``sigmoid(sum(contributions))``
in float64. That is the graph's own ``probability`` (ReduceSum -> Sigmoid) to float32 rounding,
but it is computed row by row in the same way whatever the batch size, so ``score_many`` equals
``score`` exactly (onnxruntime's vectorised Sigmoid rounds differently for 1 row and for many).

onnxruntime errors are mapped to :class:`ModelError`. ``InferenceSession.run`` is thread-safe,
so one session serves every thread of the process.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from fraudscore._errors import ModelError

__all__ = ["OnnxModel"]


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
        self.contributions(np.zeros((1, n_features), dtype=np.float32))

    def contributions(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Contributions ``(N, F+1)`` of float32 features ``(N, F)``, the last column the bias."""
        try:
            (contrib,) = self._run(self._outputs, {self._input: x}, None)
        except Exception as exc:
            raise ModelError(f"onnxruntime failed to run the graph: {exc}") from exc
        return contrib

    def run(
        self, x: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
        """Scores ``(N,)`` and contributions ``(N, F+1)``, the last column being the bias."""
        contrib = self.contributions(x)
        return np.array([score_of(row.tolist()) for row in contrib]), contrib

    def run_one(self, x: list[float]) -> tuple[float, npt.NDArray[np.float32]]:
        """The score and contributions ``(F+1,)`` of one row: ``run`` on floats, without numpy's
        per-call overhead on the score."""
        contrib = self.contributions(np.array([x], dtype=np.float32))[0]
        return score_of(contrib.tolist()), contrib


def score_of(contributions: list[float]) -> float:
    """``sigmoid(sum(contributions))`` in float64, summed left to right: the same for a row
    whatever the batch it came in."""
    margin = sum(contributions)
    if margin >= 0.0:
        return 1.0 / (1.0 + math.exp(-margin))
    e = math.exp(margin)  # never overflows for a very negative margin
    return e / (1.0 + e)
