"""ONNX Runtime detector, tiling, and the threaded screening pipeline.

- :mod:`~backscatter.inference.models`: ``default_model_path()``, model cards, sha256 check.
- :mod:`~backscatter.inference.providers`: TensorRT > CUDA > CPU, and which one really runs.
- :mod:`~backscatter.inference.detector`: ``Detector.load(model=None, provider=None)``;
  ``det(scan) -> Detections`` (tiled when the scan is larger than the model input).
- :mod:`~backscatter.inference.pipeline`: source -> detector -> sink threads, bounded queues.
- :mod:`~backscatter.inference.screening`: ``screen(inputs, out_dir, detector=...)``, what
  ``backscatter detect`` runs; :mod:`~backscatter.inference.sinks` writes its outputs.
- :mod:`~backscatter.inference.ray_engine`: the same per-scan function on Ray Data.
"""
