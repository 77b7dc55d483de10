"""RGB image and mask I/O through OpenCV (fast decode, deterministic PNG encode).

Images are returned as RGB uint8 arrays of shape (H, W, 3); masks as bool (H, W).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vlm3.utils import atomic_path

# Decode straight to RGB (no BGR->RGB pass), keep 16-bit depth visible so it can be refused, and
# ignore the EXIF orientation tag: pixels stay in stored order, as the intrinsics refer to them.
_READ_FLAGS = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_IGNORE_ORIENTATION
# Fixed PNG settings so the same array always gives the same bytes.
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file (PNG/JPEG/...) into RGB uint8 (H, W, 3).

    Grey images are expanded to three channels, alpha is dropped, 16-bit images are refused
    (they are depth maps, not photos); the EXIF orientation tag is ignored (stored pixel order).
    Raises ValueError naming the file when it is missing or cannot be decoded.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"image {p}: file not found")
    img = cv2.imread(str(p), _READ_FLAGS)
    if img is None:
        raise ValueError(f"image {p}: unreadable or unsupported image format")
    if img.dtype != np.uint8:
        raise ValueError(f"image {p}: expected 8-bit colour image, got dtype {img.dtype}")
    return img


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask image (any bit depth, 0 = outside) as bool (H, W)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"mask {p}: file not found")
    m = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise ValueError(f"mask {p}: unreadable or unsupported image format")
    if m.ndim == 3:
        m = m[..., 0]
    return m > 0


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 (H, W, 3) or grey uint8/uint16 (H, W) array."""
    arr = np.ascontiguousarray(rgb)
    if arr.ndim == 3:
        if arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"encode_png: expected RGB uint8 (H, W, 3), got {arr.dtype} {arr.shape}")
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr, _PNG_PARAMS)
    if not ok:
        raise ValueError("encode_png: OpenCV could not encode the array")
    return buf.tobytes()


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image (or grey mask) as PNG atomically, with fixed settings."""
    data = encode_png(rgb)
    with atomic_path(path, clean=False) as tmp:  # many files per folder: no scan per file
        Path(tmp).write_bytes(data)
