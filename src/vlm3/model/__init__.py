"""The tiny Qwen3-VL model (built offline) and its image-only processor."""
