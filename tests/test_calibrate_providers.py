"""Calibration providers: metadata, prior, EXIF (JPEGs written with tags here), GeoCalib (fake
module), vanishing points (rooms rendered here with a known K)."""

import math
import sys
import types

import numpy as np
import pytest
from _manhattan import render_room, rot
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from vlm3.calibrate import Intrinsics, get_calibrator
from vlm3.calibrate.exif import focal_from_35mm


def test_intrinsics_validation():
    with pytest.raises(ValueError, match="positive"):
        Intrinsics(0, 1, 0, 0)
    with pytest.raises(ValueError, match="finite"):
        Intrinsics(1, 1, float("nan"), 0)
    with pytest.raises(ValueError, match="unknown calibration provider 'nope'"):
        get_calibrator("nope")


def test_metadata():
    c = get_calibrator("metadata")
    row = {"fx": 500.0, "fy": 510.0, "cx": 319.5, "cy": 239.5, "width": 640, "height": 480}
    assert c.estimate(None, row) == Intrinsics(500.0, 510.0, 319.5, 239.5, 1.0)
    nan = float("nan")
    assert c.estimate(None, {**row, "fx": nan, "fy": nan}) is None


def test_metadata_keeps_a_known_focal(caplog):
    c = get_calibrator("metadata")
    row = {"image_id": "a", "image_path": "im/a.png", "fx": 500.0, "fy": 510.0, "cx": float("nan"),
           "cy": 200.0, "width": 640, "height": 480}
    caplog.set_level("WARNING")
    assert c.estimate(None, row) == Intrinsics(500.0, 510.0, 319.5, 200.0, 1.0)
    assert caplog.messages == ["image 'a' (im/a.png): metadata focal known but not every intrinsic; using "
                               "principal point (319.5, 200) (image centre for the unknown part)"]
    caplog.clear()
    assert c.estimate(None, {**row, "fx": float("nan"), "cx": 300.0}) == Intrinsics(510.0, 510.0, 300.0, 200.0)
    assert caplog.messages == ["image 'a' (im/a.png): metadata focal known but not every intrinsic; using "
                               "fx = fy (square pixels)"]


@pytest.mark.parametrize("key, value, problem", [
    ("fx", float("inf"), "fx = inf is neither a value nor unknown (NaN marks an unknown value)"),
    ("cy", float("-inf"), "cy = -inf is neither a value nor unknown (NaN marks an unknown value)"),
    ("fy", -3.0, "fy = -3.0 is not a positive focal length")])
def test_metadata_rejects_invalid_values(key, value, problem):
    row = {"image_id": "a", "fx": 500.0, "fy": 510.0, "cx": 319.5, "cy": 239.5, "width": 640, "height": 480}
    with pytest.raises(ValueError) as e:
        get_calibrator("metadata").estimate(None, {**row, key: value}, "im/a.png")
    assert str(e.value) == f"calibrate: image 'a' (im/a.png): metadata {problem}; fix the index"


def test_prior_60deg():
    r = get_calibrator("prior", fov_deg=60).estimate(None, {"width": 640, "height": 480})
    # (W/2) / tan(30 deg) = 320 * sqrt(3)
    assert r.fx == pytest.approx(320 * math.sqrt(3), rel=1e-12) and r.fy == r.fx
    assert (r.cx, r.cy) == (319.5, 239.5)
    with pytest.raises(ValueError, match="fov_deg"):
        get_calibrator("prior", fov_deg=180)


def _jpeg(path, size, exif_tags=None, ifd0=None):
    im = Image.new("RGB", size, (90, 120, 30))
    ex = Image.Exif()
    for k, v in (ifd0 or {}).items():
        ex[k] = v
    if exif_tags:
        sub = ex.get_ifd(0x8769)
        for k, v in exif_tags.items():
            sub[k] = v
    im.save(path, exif=ex)
    return str(path)


def test_focal_from_35mm_conventions():
    # 3:2 frame: both conventions agree, 28 mm on 600 px wide -> 28/36*600
    assert focal_from_35mm(28, 600, 400, "width") == pytest.approx(466.6667, abs=1e-3)
    assert focal_from_35mm(28, 600, 400, "diagonal") == pytest.approx(466.6667, abs=1e-3)
    # 4:3 frame: width 28/36*800 = 622.2; diagonal 28/43.2666*1000 = 647.15
    assert focal_from_35mm(28, 800, 600, "width") == pytest.approx(622.222, abs=1e-3)
    assert focal_from_35mm(28, 800, 600, "diagonal") == pytest.approx(647.150, abs=1e-3)
    # portrait uses the long side
    assert focal_from_35mm(28, 600, 800, "width") == pytest.approx(622.222, abs=1e-3)


def test_exif_35mm(tmp_path):
    p = _jpeg(tmp_path / "a.jpg", (800, 600), {0xA405: 28, 0x920A: IFDRational(45, 10)})
    row = {"width": 800, "height": 600}
    r = get_calibrator("exif").estimate(None, row, p)
    assert r.fx == pytest.approx(28 / 36 * 800) and r.fy == r.fx and (r.cx, r.cy) == (399.5, 299.5)
    r = get_calibrator("exif", convention="diagonal").estimate(None, row, p)
    assert r.fx == pytest.approx(28 / math.hypot(36, 24) * 1000)


def test_exif_focal_plane_resolution(tmp_path):
    # 4.5 mm lens, 200 px/mm sensor (unit 4 = mm), image stored at half the sensor width
    tags = {0x920A: IFDRational(45, 10), 0xA20E: IFDRational(200, 1), 0xA210: 4, 0xA002: 1600}
    p = _jpeg(tmp_path / "b.jpg", (800, 600), tags)
    r = get_calibrator("exif").estimate(None, {"width": 800, "height": 600}, p)
    assert r.fx == pytest.approx(4.5 * 200 * 0.5)
    # inches: 5080 px/inch = 200 px/mm, no PixelXDimension -> no rescale
    tags = {0x920A: IFDRational(45, 10), 0xA20E: IFDRational(5080, 1), 0xA210: 2}
    p = _jpeg(tmp_path / "c.jpg", (800, 600), tags)
    assert get_calibrator("exif").estimate(None, {"width": 800, "height": 600}, p).fx == pytest.approx(900)


def test_exif_sensor_table_and_missing(tmp_path):
    p = _jpeg(tmp_path / "d.jpg", (600, 400), {0x920A: IFDRational(6, 1)}, {0x010F: "Acme", 0x0110: "Cam1"})
    row = {"width": 600, "height": 400}
    assert get_calibrator("exif").estimate(None, row, p) is None  # focal in mm but no sensor size
    r = get_calibrator("exif", sensor_widths_mm={"Acme Cam1": 6.0}).estimate(None, row, p)
    assert r.fx == pytest.approx(600.0)
    q = _jpeg(tmp_path / "e.jpg", (600, 400))
    assert get_calibrator("exif").estimate(None, row, q) is None
    with pytest.raises(ValueError, match="e.jpg is 600x400 but the index says 640x480"):
        get_calibrator("exif").estimate(None, {"width": 640, "height": 480}, q)


class _FakeCamera:
    """FAKE stand-in for geocalib.camera.Pinhole: only the `.f` attribute the product reads."""
    def __init__(self, fx, fy):
        import torch
        self.f = torch.tensor([[fx, fy]])


def test_geocalib_with_fake_module(monkeypatch):
    """The real package cannot be installed here; a FAKE `geocalib` module checks the call path:
    GeoCalib(weights=...).to(device).calibrate((3, H, W) float in [0, 1]) -> {"camera": ...}."""
    import torch
    calls = {}

    class FakeGeoCalib:
        def __init__(self, weights="pinhole"):
            calls["weights"] = weights

        def to(self, device):
            calls["device"] = device
            return self

        def calibrate(self, img):
            calls["shape"], calls["max"] = tuple(img.shape), float(img.max())
            return {"camera": _FakeCamera(412.0, 413.0), "focal_uncertainty": torch.tensor([41.3])}

    fake = types.ModuleType("geocalib")
    fake.GeoCalib = FakeGeoCalib
    monkeypatch.setitem(sys.modules, "geocalib", fake)
    img = np.zeros((48, 64, 3), np.uint8)
    img[0, 0] = 255
    r = get_calibrator("geocalib", device="cpu").estimate(img, {"width": 64, "height": 48}, "x.png")
    assert calls == {"weights": "pinhole", "device": "cpu", "shape": (3, 48, 64), "max": 1.0}
    assert (r.fx, r.fy, r.cx, r.cy) == (412.0, 413.0, 31.5, 23.5)
    assert r.confidence == pytest.approx(1 / 1.1)


def test_geocalib_missing_names_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "geocalib", None)  # import fails as if not installed
    c = get_calibrator("geocalib", device="cpu")
    with pytest.raises(ValueError, match="pip install .*cvg/GeoCalib"):
        c.estimate(np.zeros((4, 4, 3), np.uint8), {"width": 4, "height": 4}, "x.png")


@pytest.mark.parametrize("w,h,f,yaw,pitch,roll", [
    (640, 480, 500, 30, -20, 0),      # three finite VPs (orthocentre case)
    (640, 480, 800, 25, -15, 3),      # with roll
    (320, 240, 300, 35, -20, 0),      # small image, wide FOV
    (320, 240, 1000, 30, -20, 0),     # small image, narrow FOV (far VPs)
    (640, 480, 500, 0, -20, 0),       # X direction parallel to the image: Y and Z VPs only
])
def test_vanishing_recovers_focal(w, h, f, yaw, pitch, roll):
    """Lines are drawn anti-aliased with sub-pixel endpoints on a noisy background; LSD + RANSAC
    recovers f within 2 % (measured errors are 0.1-0.6 %; the tolerance leaves room for
    OpenCV version differences in LSD)."""
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
    img = render_room(K, rot(yaw, pitch, roll), np.zeros(3), w, h)
    r = get_calibrator("vanishing", seed=0).estimate(img, {"image_id": "room"}, "room.png")
    assert r is not None
    assert abs(r.fx / f - 1) < 0.02 and r.fy == r.fx
    assert (r.cx, r.cy) == ((w - 1) / 2, (h - 1) / 2)


def test_vanishing_undeterminable():
    """A frontal, level view: X and Y directions are parallel to the image plane, only the Z VP is
    finite, so f cannot be determined; a textureless image has no lines at all."""
    K = np.array([[500, 0, 319.5], [0, 500, 239.5], [0, 0, 1.0]])
    img = render_room(K, rot(0, 0, 0), np.zeros(3), 640, 480)
    assert get_calibrator("vanishing").estimate(img, {"image_id": "front"}, "f.png") is None
    assert get_calibrator("vanishing").estimate(np.full((48, 64, 3), 128, np.uint8), {"image_id": "x"}) is None


def test_vanishing_deterministic():
    K = np.array([[600, 0, 159.5], [0, 600, 119.5], [0, 0, 1.0]])
    img = render_room(K, rot(30, -15), np.zeros(3), 320, 240)
    a = get_calibrator("vanishing", seed=3).estimate(img, {"image_id": "a"})
    b = get_calibrator("vanishing", seed=3).estimate(img, {"image_id": "a"})
    assert a == b


def test_stage_keeps_known_focal_over_the_prior():
    import pandas as pd

    from vlm3.calibrate.__main__ import build_providers, calibrate_index
    df = pd.DataFrame([{"image_id": "a", "image_path": "im/a.png", "width": 640, "height": 480,
                        "fx": 12000.0, "fy": 12000.0, "cx": float("nan"), "cy": float("nan")}])
    out = calibrate_index(df, build_providers(["metadata"], fallback_fov=60.0))
    assert out[["fx", "fy", "cx", "cy", "source"]].values.tolist() == [[12000.0, 12000.0, 319.5, 239.5, "metadata"]]
