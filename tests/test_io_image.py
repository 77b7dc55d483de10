import cv2
import numpy as np
import pytest

from vlm3.io.image import encode_png, read_image, read_mask, write_png


def test_png_roundtrip_rgb_order(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)  # red
    write_png(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb)
    # on disk OpenCV stores BGR: the red pixel reads back as B=0,G=0,R=255
    assert tuple(cv2.imread(str(tmp_path / "a.png"))[0, 0]) == (0, 0, 255)


def test_png_bytes_deterministic():
    rgb = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    assert encode_png(rgb) == encode_png(rgb.copy())


def test_grey_and_alpha_expand(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((2, 2), 7, np.uint8))
    assert read_image(tmp_path / "g.png").shape == (2, 2, 3)
    cv2.imwrite(str(tmp_path / "a.png"), np.full((2, 2, 4), 9, np.uint8))
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), np.full((2, 2, 3), 9, np.uint8))


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="x.png: file not found"):
        read_image(tmp_path / "x.png")
    (tmp_path / "y.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="y.jpg: unreadable"):
        read_image(tmp_path / "y.jpg")
    cv2.imwrite(str(tmp_path / "d.png"), np.zeros((2, 2), np.uint16))
    with pytest.raises(ValueError, match="d.png: expected 8-bit"):
        read_image(tmp_path / "d.png")


def test_mask(tmp_path):
    cv2.imwrite(str(tmp_path / "m.png"), np.array([[0, 255], [1, 0]], np.uint8))
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), [[False, True], [True, False]])
