"""Reading `.npz` files that may hold object arrays, without ever running code from them.

`np.load(..., allow_pickle=True)` unpickles object arrays with the full pickle machinery, so a
crafted file runs arbitrary code when it is read. `load_npz` reads numeric arrays with
`allow_pickle=False` and unpickles object arrays with a restricted unpickler that resolves only
the few numpy globals an object array needs (ndarray, dtype, their reconstructors and scalars);
plain containers and values (list, tuple, dict, str, bytes, int, float, bool, None) need no
global. Anything else (a function, a class, a module attribute) is refused before it is called.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


class RefusedPickle(pickle.UnpicklingError):
    """A pickle asked for a global outside the allowed numpy names."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise RefusedPickle(f"{module}.{name}")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise RefusedPickle(f"persistent id {pid!r}")


def _read_member(buf: io.BytesIO) -> np.ndarray:
    version = npformat.read_magic(buf)
    header = {(1, 0): npformat.read_array_header_1_0, (2, 0): npformat.read_array_header_2_0}.get(version)
    if header is None:
        raise ValueError(f"npy format version {version[0]}.{version[1]} is not read here (1.0 and 2.0 are)")
    shape, _, dtype = header(buf)
    if not dtype.hasobject:
        buf.seek(0)
        return npformat.read_array(buf, allow_pickle=False)
    arr = _NumpyOnlyUnpickler(buf).load()
    if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape):
        raise pickle.UnpicklingError(f"object array of shape {shape} expected, got {type(arr).__name__}")
    return arr


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an `.npz` by name (object arrays through the restricted unpickler).

    Raises ValueError naming the file (and the array) when it is unreadable or a pickle in it
    asks for anything but numpy arrays and plain containers.
    """
    path = Path(path)
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                key = member.removesuffix(".npy")
                try:
                    out[key] = _read_member(io.BytesIO(z.read(member)))
                except RefusedPickle as e:
                    raise ValueError(f"{path}: array {key!r}: refused to unpickle {e} (only numpy arrays "
                                     "and plain containers are admitted; no code is run from a data file)") from None
                except (pickle.UnpicklingError, ValueError, EOFError, TypeError, AttributeError, zlib.error) as e:
                    raise ValueError(f"{path}: array {key!r}: unreadable ({e})") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{path}: unreadable npz ({e})") from None
    return out
