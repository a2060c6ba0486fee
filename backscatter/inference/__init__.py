"""ONNX Runtime detector, tiling, and the threaded screening pipeline."""
