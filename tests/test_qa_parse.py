"""Answer parsers: what real models emit, garbage -> None, and format/parse round trips."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm3.qa import templates as T
from vlm3.qa.parse import PARSERS, parse, resolve_choice


@pytest.mark.parametrize("text,expected", [
    ("3.52 meters", 3.52),
    ("3.5m", 3.5),
    ("3.5 m.", 3.5),
    ("3.5 metres", 3.5),
    ("<answer>3.5</answer>", 3.5),
    ("<think>the wall is 10 m away, the pixel is closer</think>\n\n<answer> 4.25 </answer>", 4.25),
    ("03.52 meters", 3.52),
    ("approximately 3.5 meters", 3.5),
    ("It is about +12 meters from the camera.", 12.0),
    ("350 cm", 3.5),
    ("3500mm", 3.5),
    ("10 feet", 3.048),
    ("1 foot", 0.3048),
    ("12 inches", 0.3048),
    ("about 40 in.", 1.016),
    ("0.5 km", 500.0),
    ("The pixel at (16, 1061) is 7.25 meters away.", 7.25),
    ("The pixel at (16, 1061) is 7.25 away.", 7.25),
    ("4", 4.0),
    ("1e1 m", 10.0),
])
def test_depth_accepts(text, expected):
    assert parse("depth", text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kind", sorted(PARSERS))
@pytest.mark.parametrize("text", ["", "   ", "I cannot tell.", "<answer></answer>", None, "<think>3 m</think>"])
def test_garbage_is_none(kind, text):
    assert parse(kind, text) is None


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown answer kind 'height'"):
        parse("height", "3 m")


def test_distance_ignores_region_numbers():
    a = "bounding box region (0, 39, 652, 999) and bounding box region (6, 380, 228, 562) are 2.5 feet apart."
    assert parse("distance", a) == pytest.approx(0.762)
    assert parse("distance", "Region [0] is 1.52 meters tall.") == 1.52
    assert parse("distance", "Region [0] is 152 centimeters tall.") == pytest.approx(1.52)


def test_point():
    assert parse("point", "The corresponding pixel is (338, 52)") == (338, 52)
    assert parse("point", "(338.4, 51.6)") == (338, 52)
    assert parse("point", "Pixel (440, 60) in the first image matches (338, 52) in the second.") == (338, 52)
    assert parse("point", "<answer>[12, 7]</answer>") == (12, 7)
    assert parse("point", "338, 52") == (338, 52)
    assert parse("point", "(338)") is None


def test_angles():
    assert parse("rotation_angle", "Rotation angle: 89.7 degrees") == 89.7
    assert parse("rotation_angle", "about 12°") == 12.0
    assert parse("rotation_angle", "0.5 rad") == pytest.approx(math.degrees(0.5))
    assert parse("rotation_angle", "45") == 45.0
    assert parse("euler", "Yaw=+89.6°, Pitch=+2.6°, Roll=+6.1°") == (89.6, 2.6, 6.1)
    assert parse("euler", "yaw: -3.0, pitch: 4, roll: 0.5") == (-3.0, 4.0, 0.5)
    assert parse("euler", "(10, -20, 30)") == (10.0, -20.0, 30.0)
    assert parse("euler", "Yaw=+89.6°, Pitch=+2.6°") is None


def test_direction():
    assert parse("direction", "The camera moves left, forward, unit vector (-0.69, +0.02, +0.72).") == (
        ("left", "forward"), (-0.69, 0.02, 0.72))
    assert parse("direction", "moves backwards and down: [0, 0.6, -0.8]") == (("backward", "down"), (0.0, 0.6, -0.8))
    assert parse("direction", "The camera moves left.") is None


def test_clock_yesno_choice():
    assert parse("clock", "bounding box region (1, 2, 3, 4) is roughly at 3 o'clock from bounding box region (5, 6, 7, 8).") == 3
    assert parse("clock", "At 11 o\u2019clock.") == 11
    assert parse("clock", "twelve oclock") == 12
    assert parse("clock", "7") == 7
    assert parse("clock", "13 o'clock") is None
    assert parse("clock", "It is 3 meters away") is None
    assert parse("yesno", "Yes.") is True
    assert parse("yesno", "No, it is not.") is False
    assert parse("yesno", "Correct, bounding box region (0, 1, 2, 3) is above bounding box region (4, 5, 6, 7).") is True
    assert parse("yesno", "Incorrect, bounding box region (0, 1, 2, 3) is not above it.") is False
    assert parse("yesno", "The lamp isn't bigger.") is False
    boxes = [[0, 39, 652, 999], [6, 380, 228, 562]]
    a = "bounding box region (6, 380, 228, 562) is taller."
    assert parse("choice", a) == (6, 380, 228, 562)
    assert resolve_choice(parse("choice", a), boxes) == 1
    assert resolve_choice(parse("choice", "Region [0] is taller."), boxes) == 0
    assert resolve_choice(parse("choice", "The first one."), boxes) == 0
    assert resolve_choice(parse("choice", "bounding box region (1, 1, 1, 1)"), boxes) is None
    assert resolve_choice(parse("choice", "Region [5]"), boxes) is None


# ----------------------------------------------------------------------------- round trips

lengths = st.floats(min_value=0.0, max_value=999.0, allow_nan=False)
styles = st.sampled_from(["paper", "fixed"])
angles = st.floats(min_value=-180.0, max_value=180.0, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(v=lengths, style=styles, width=st.integers(4, 8), variant=st.sampled_from(["paper", "tagged"]))
def test_roundtrip_depth(v, style, width, variant):
    got = parse("depth", T.depth_answer(v, style, width, variant))
    assert got == round(v, 2) or abs(got - v) <= 0.005 + 1e-9


@settings(max_examples=100, deadline=None)
@given(v=lengths, style=styles, cat=st.sampled_from(
    ["distance_data", "horizontal_distance_data", "vertical_distance_data", "width_data", "height_data"]),
    t=st.integers(0, 5), box=st.lists(st.integers(0, 1000), min_size=8, max_size=8))
def test_roundtrip_object_quantitative(v, style, cat, t, box):
    boxes = [box[:4], box[4:]][: T.OBJECT_CATEGORIES[cat]["n_regions"]]
    got = parse("distance", T.object_answer(cat, t, boxes, v, style))
    assert abs(got - v) <= 0.005 + 1e-9
    got = parse("distance", T.translation_distance_answer(v, style))
    assert abs(got - v) <= 0.005 + 1e-9


@settings(max_examples=100, deadline=None)
@given(x=st.integers(0, 999), y=st.integers(0, 999))
def test_roundtrip_point(x, y):
    assert parse("point", T.correspondence_answer(x, y)) == (x, y)


@settings(max_examples=100, deadline=None)
@given(a=st.floats(0.0, 180.0), ypr=st.tuples(angles, angles, angles))
def test_roundtrip_rotation(a, ypr):
    assert abs(parse("rotation_angle", T.rotation_angle_answer(a)) - a) <= 0.05 + 1e-9
    got = parse("euler", T.euler_answer(*ypr))
    assert all(abs(g - e) <= 0.05 + 1e-9 for g, e in zip(got, ypr))


@settings(max_examples=100, deadline=None)
@given(vec=st.tuples(*[st.floats(-5, 5, allow_nan=False)] * 3).filter(lambda v: math.hypot(*v) > 1e-3))
def test_roundtrip_direction(vec):
    from vlm3.geometry import translation_direction
    words, unit = translation_direction(vec)
    got_words, got_unit = parse("direction", T.direction_answer(words, unit))
    assert ", ".join(got_words) == words
    assert all(abs(g - u) <= 0.005 + 1e-9 for g, u in zip(got_unit, unit))


@settings(max_examples=60, deadline=None)
@given(hour=st.integers(1, 12), yes=st.booleans(), idx=st.integers(0, 1), t=st.integers(0, 5),
       pred=st.sampled_from([c for c in T.OBJECT_CATEGORIES if c.endswith("_predicate")]),
       ch=st.sampled_from([c for c in T.OBJECT_CATEGORIES if c.endswith("_choice")]),
       box=st.lists(st.integers(0, 1000), min_size=8, max_size=8).filter(lambda b: b[:4] != b[4:]))
def test_roundtrip_qualitative(hour, yes, idx, t, pred, ch, box):
    boxes = [box[:4], box[4:]]
    assert parse("clock", T.object_answer("direction", t, boxes, hour)) == hour
    assert parse("yesno", T.object_answer(pred, t, boxes, yes)) is yes
    assert resolve_choice(parse("choice", T.object_answer(ch, t, boxes, idx)), boxes) == idx
