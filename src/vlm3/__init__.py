"""VLM3 reproduction: camera geometry, synthetic 3D data, QA formats, training and evaluation."""

__version__ = "0.1.0"
