"""Depth readers: each format written by the test in its exact on-disk layout."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm3.io.depth import READERS, clean_depth, is_sparse, read_depth, register_reader


def test_registry_names():
    for name in ["npy", "png_mm", "png_scale", "sunrgbd", "ibims_png", "eth3d_raw", "points_npy", "pfm"]:
        assert name in READERS


def test_npy_cleans_invalid(tmp_path):
    d = np.array([[1.5, np.nan], [np.inf, -2.0]], dtype=np.float64)
    np.save(tmp_path / "d.npy", d)
    out = read_depth(tmp_path / "d.npy", "npy")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[1.5, 0], [0, 0]], dtype=np.float32))
    raw = read_depth(tmp_path / "d.npy", "npy", clean=False)  # as stored, in float32
    assert raw.dtype == np.float32 and raw.tobytes() == d.astype(np.float32).tobytes()
    f32 = tmp_path / "f.npy"  # float32 on disk: clean=False may map the file (read-only), the
    np.save(f32, d.astype(np.float32))  # cleaned map is an array of its own
    raw, out = read_depth(f32, "npy", clean=False), read_depth(f32, "npy")
    assert raw.tobytes() == d.astype(np.float32).tobytes() and out.flags.writeable
    out[0, 0] = 7.0
    assert np.load(f32)[0, 0] == 1.5


@pytest.mark.parametrize("shape", [(0, 3), (5,), (3, 7), (33, 65), (4, 9, 2)])
def test_clean_depth_matches_the_rule_bit_for_bit(shape):
    """clean_depth (OpenCV passes) == where((d > 0) & (d < inf), d, +0) for every kind of float32:
    NaNs of both signs and payloads, +-inf, +-0, negatives, subnormals, FLT_MAX; input untouched."""
    fi = np.finfo(np.float32)
    special = np.r_[np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1.0, 3.5, fi.max, -fi.max,
                              fi.tiny, fi.tiny / 2, fi.smallest_subnormal, -fi.smallest_subnormal], np.float32),
                    np.array([0x7FC00001, 0xFFC00000, 0x7F800001, 0xFF800001], np.uint32).view(np.float32)]
    rng = np.random.default_rng(sum(shape))
    d = rng.choice(special, size=shape).astype(np.float32)
    before = d.tobytes()
    want = np.where((d > 0) & (d < np.inf), d, np.float32(0))
    got = clean_depth(d)
    assert got.dtype == np.float32 and got.shape == d.shape and not np.shares_memory(got, d)
    assert got.tobytes() == want.tobytes() and d.tobytes() == before
    with np.errstate(invalid="ignore"):  # signalling NaNs through float64 and back
        assert clean_depth(d.astype(np.float64)).tobytes() == want.tobytes()
    if d.ndim == 2 and d.shape[1] > 2:  # a non-contiguous view
        assert clean_depth(d[:, ::2]).tobytes() == want[:, ::2].tobytes()


def test_npy_wrong_shape(tmp_path):
    np.save(tmp_path / "d.npy", np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"d\.npy.*\(H, W\)"):
        read_depth(tmp_path / "d.npy", "npy")


def test_shape_mismatch_names_file(tmp_path):
    np.save(tmp_path / "d.npy", np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"d\.npy.*3x2.*4x2"):
        read_depth(tmp_path / "d.npy", "npy", shape=(2, 4))


def test_png_mm(tmp_path):
    v = np.array([[0, 1000], [1234, 65535]], np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), v)
    out = read_depth(tmp_path / "d.png", "png_mm")
    np.testing.assert_allclose(out, [[0, 1.0], [1.234, 65.535]], rtol=1e-6)


def test_png_scale(tmp_path):
    v = np.array([[0, 5000, 2500]], np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), v)
    np.testing.assert_allclose(read_depth(tmp_path / "d.png", "png_scale:5000"), [[0, 1.0, 0.5]])
    with pytest.raises(ValueError, match="needs a parameter"):
        read_depth(tmp_path / "d.png", "png_scale")
    with pytest.raises(ValueError, match="positive"):
        read_depth(tmp_path / "d.png", "png_scale:-3")
    with pytest.raises(ValueError, match="takes no parameter"):
        read_depth(tmp_path / "d.png", "png_mm:3")


@given(st.lists(st.integers(0, 8191), min_size=1, max_size=20))
@settings(max_examples=30, deadline=None)
def test_sunrgbd_roundtrip(mm):
    """Writing v = rotl(d_mm, 3) (as the SUN RGB-D toolbox stores it) reads back d_mm / 1000."""
    import os
    import tempfile
    d = np.array(mm, np.uint32)[None]
    stored = (((d << 3) | (d >> 13)) & 0xFFFF).astype(np.uint16)
    with tempfile.TemporaryDirectory() as t:
        f = os.path.join(t, "d.png")
        cv2.imwrite(f, stored)
        out = read_depth(f, "sunrgbd")
    np.testing.assert_allclose(out, d.astype(np.float32) / 1000, rtol=1e-6)


def test_sunrgbd_known_value(tmp_path):
    # 2.5 m = 2500 mm; rotl(2500, 3) = 20000 (no bits wrap)
    cv2.imwrite(str(tmp_path / "d.png"), np.array([[20000, 0]], np.uint16))
    np.testing.assert_allclose(read_depth(tmp_path / "d.png", "sunrgbd"), [[2.5, 0]])


def test_ibims_png(tmp_path):
    cv2.imwrite(str(tmp_path / "d.png"), np.array([[0, 65535, 13107]], np.uint16))
    np.testing.assert_allclose(read_depth(tmp_path / "d.png", "ibims_png"), [[0, 50.0, 10.0]], rtol=1e-6)


def test_png_rejects_8bit(tmp_path):
    cv2.imwrite(str(tmp_path / "d.png"), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="uint16"):
        read_depth(tmp_path / "d.png", "png_mm")


def test_eth3d_raw(tmp_path):
    d = np.array([[1.0, np.inf, 2.0], [3.0, 4.0, np.inf]], "<f4")
    (tmp_path / "x.JPG").write_bytes(d.tobytes())
    out = read_depth(tmp_path / "x.JPG", "eth3d_raw", shape=(2, 3))
    np.testing.assert_array_equal(out, [[1, 0, 2], [3, 4, 0]])
    with pytest.raises(ValueError, match=r"x\.JPG: 24 bytes, expected 32"):
        read_depth(tmp_path / "x.JPG", "eth3d_raw", shape=(2, 4))
    with pytest.raises(ValueError, match="needs shape"):
        read_depth(tmp_path / "x.JPG", "eth3d_raw")


def test_points_npy(tmp_path):
    pts = np.array([[0, 0, 1], [np.nan, 0, 2], [1, 2, 3]], np.float64)
    np.save(tmp_path / "p.npy", pts)
    out = read_depth(tmp_path / "p.npy", "points_npy")
    assert out.dtype == np.float32 and is_sparse("points_npy") and not is_sparse("npy")
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 2, 3]])
    np.save(tmp_path / "q.npy", np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"q\.npy.*\(N, 3\)"):
        read_depth(tmp_path / "q.npy", "points_npy")


def _write_pfm(path, arr, little=True):
    """PFM as the format defines it: header, scale (<0 little endian), rows bottom to top."""
    h, w = arr.shape[:2]
    magic = b"PF" if arr.ndim == 3 else b"Pf"
    scale = b"-1.0" if little else b"1.0"
    data = np.flipud(arr).astype("<f4" if little else ">f4").tobytes()
    path.write_bytes(magic + b"\n%d %d\n" % (w, h) + scale + b"\n" + data)


def test_pfm_grey_and_colour(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    _write_pfm(tmp_path / "a.pfm", a)
    np.testing.assert_array_equal(read_depth(tmp_path / "a.pfm", "pfm"), a)
    _write_pfm(tmp_path / "b.pfm", a, little=False)
    np.testing.assert_array_equal(read_depth(tmp_path / "b.pfm", "pfm"), a)
    c = np.stack([a, a * 10, a * 100], axis=2)
    _write_pfm(tmp_path / "c.pfm", c)
    np.testing.assert_array_equal(read_depth(tmp_path / "c.pfm", "pfm"), a)
    (tmp_path / "d.pfm").write_bytes(b"P6\n1 1\n255\n\x00\x00\x00")
    with pytest.raises(ValueError, match="not a PFM"):
        read_depth(tmp_path / "d.pfm", "pfm")


def test_errors_name_file(tmp_path):
    with pytest.raises(ValueError, match=r"missing\.npy: file not found"):
        read_depth(tmp_path / "missing.npy", "npy")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"bad\.png: unreadable"):
        read_depth(tmp_path / "bad.png", "png_mm")
    with pytest.raises(ValueError, match="unknown depth_format 'nope'"):
        read_depth(tmp_path / "bad.png", "nope")


def test_register_reader(tmp_path):
    @register_reader("test_twice_npy")
    def _r(p):
        return np.load(p) * 2

    try:
        np.save(tmp_path / "d.npy", np.ones((1, 2), np.float32))
        np.testing.assert_array_equal(read_depth(tmp_path / "d.npy", "test_twice_npy"), [[2, 2]])
    finally:
        READERS.pop("test_twice_npy")


def test_extension_readers_load_on_demand(tmp_path, monkeypatch):
    """A format registered by an extension module is found without importing it first (as in a
    fresh resize worker): the module is imported on the first unknown name."""
    from vlm3.io import depth as D

    (tmp_path / "ext_readers_for_test.py").write_text(
        "import numpy as np\n"
        "from vlm3.io.depth import register_reader\n"
        "@register_reader('test_ext_pts', sparse=True)\n"
        "def _r(p):\n"
        "    return np.load(p).astype(np.float32)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(D, "EXTENSION_MODULES", ["ext_readers_for_test"])
    monkeypatch.setattr(D, "_extensions_loaded", False)
    np.save(tmp_path / "p.npy", np.ones((2, 3)))
    try:
        assert "test_ext_pts" not in READERS
        assert is_sparse("test_ext_pts")
        np.testing.assert_array_equal(read_depth(tmp_path / "p.npy", "test_ext_pts"), np.ones((2, 3)))
    finally:
        READERS.pop("test_ext_pts", None)
        D.SPARSE_FORMATS.discard("test_ext_pts")


def test_dataset_readers_registered_lazily():
    """The project's real extension module registers its names on first lookup."""
    assert is_sparse("nuscenes_lidar:" + ",".join(["0"] * 12))
    assert "ibims_mat" in READERS
