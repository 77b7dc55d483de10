"""vlm3.io.npz.load_npz: object arrays without running code (issue 17, item 9)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import vlm3.datasets.readers  # noqa: F401
from vlm3.datasets import load_index
from vlm3.io.npz import load_npz


class _Opens:
    """Unpickling this calls open(marker, "w"): a file appears if code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _Shell:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_object_arrays_of_plain_values_load(tmp_path):
    info = np.empty(2, dtype=object)
    info[0] = ((0, 1), 0.42, np.zeros((0, 2)))
    info[1] = ((1, 2), np.float64(0.5), np.arange(4, dtype=np.int32).reshape(2, 2))
    paths = np.array(["a.jpg", None, {"k": [1, b"x"]}], dtype=object)
    np.savez(tmp_path / "s.npz", pair_infos=info, image_paths=paths, K=np.eye(3))
    z = load_npz(tmp_path / "s.npz")
    assert sorted(z) == ["K", "image_paths", "pair_infos"]
    assert z["K"].dtype == np.float64 and z["K"].tolist() == np.eye(3).tolist()
    assert z["image_paths"].tolist() == ["a.jpg", None, {"k": [1, b"x"]}]
    assert z["pair_infos"][0][:2] == ((0, 1), 0.42) and z["pair_infos"][0][2].shape == (0, 2)
    (ij, overlap, m) = z["pair_infos"][1]
    assert ij == (1, 2) and overlap == 0.5 and type(overlap) is np.float64
    assert m.dtype == np.int32 and m.tolist() == [[0, 1], [2, 3]]


@pytest.mark.parametrize("evil, refused", [(_Opens, "io.open"), (_Shell, "posix.system")])
def test_malicious_npz_runs_no_code(tmp_path, evil, refused):
    marker = tmp_path / "pwned"
    info = np.empty(1, dtype=object)
    info[0] = evil(marker)
    np.savez(tmp_path / "0015_0.1_0.3.npz", image_paths=np.array(["a.jpg"]), depth_paths=np.array(["a.h5"]),
             intrinsics=np.eye(3)[None], poses=np.eye(4)[None], pair_infos=info)
    with pytest.raises(ValueError) as e:
        load_index("loftr_megadepth", tmp_path, "test")
    assert str(e.value) == (f"{tmp_path / '0015_0.1_0.3.npz'}: array 'pair_infos': refused to unpickle "
                            f"{refused} (only numpy arrays and plain containers are admitted; no code is run "
                            "from a data file)")
    assert not marker.exists()


def test_truncated_npz_names_the_file(tmp_path):
    np.savez(tmp_path / "t.npz", a=np.arange(1000))
    data = (tmp_path / "t.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"^{tmp_path / 't.npz'}: unreadable npz \(File is not a zip file\)$"):
        load_npz(tmp_path / "t.npz")
