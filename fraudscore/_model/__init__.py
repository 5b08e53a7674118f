"""The model: XGBoost to one ONNX graph (export), onnxruntime (runtime), the bundle on disk."""
