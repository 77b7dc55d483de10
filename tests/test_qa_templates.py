"""Formatters vs VLM3's released label files (../shared/data/vlm3-samples), and template hygiene."""

import json
from pathlib import Path

import pytest

from vlm3.qa import templates as T
from vlm3.qa.parse import parse, resolve_choice

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "vlm3-samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"reference samples absent: {SAMPLES}")


def _load(name):
    return json.loads((SAMPLES / name).read_text())


# ----------------------------------------------------------------------------- released strings


@pytest.mark.shared_data
@needs_samples
def test_depth_sample_coordinates_and_question():
    d = _load("depth_labels.json")
    w, h = d["image_size"]["width"], d["image_size"]["height"]
    for s in d["samples"]:
        x, y = s["pixel_coord_resized"]
        xn, yn = s["pixel_coord_normalized_2000"]
        # the contract's normalisation, written out: round(x / W * 2000)
        assert (round(x / w * 2000), round(y / h * 2000)) == (xn, yn)
        q = T.depth_question(xn, yn)
        assert q == (f"How far is the pixel at ({xn}, {yn}) from the camera? "
                     "Both x and y are normalized to between [0, 2000).")
        a = T.depth_answer(s["depth_meters"])
        assert a == f"{s['depth_meters']:.2f} meters"
        assert parse("depth", a) == pytest.approx(s["depth_meters"], abs=0.005)
    assert T.depth_answer(d["samples"][0]["depth_meters"]) == "14.01 meters"
    assert T.depth_answer(d["samples"][6]["depth_meters"]) == "3.17 meters"
    assert T.depth_answer(d["samples"][7]["depth_meters"]) == "127.91 meters"


@pytest.mark.shared_data
@needs_samples
def test_spatialrgpt_sample_exact():
    d = _load("spatialrgpt_labels.json")
    boxes = [b["bbox_normalized_1000"] for b in d["bboxes"]]
    prompt = T.fill_regions(T.clean_user_msg(d["raw_user_msg"]), boxes)
    assert prompt == d["prompt"]
    assert T.fill_regions(d["raw_assistant_msg"], boxes) == d["answer"]
    cat = d["qa_info"]["category"]
    assert T.object_question(cat, 0, boxes) == d["prompt"]
    assert T.object_answer(cat, 0, boxes, False) == d["answer"]
    assert parse("yesno", d["answer"]) is False


@pytest.mark.shared_data
@needs_samples
def test_pose_sample_exact():
    d = _load("pose_labels.json")
    gt = d["ground_truth_pose"]
    qa = {p["question_id"]: p for p in d["qa_pairs"]}
    assert list(qa) == list(T.POSE_QUESTIONS)  # same questions, same order
    for qid, p in qa.items():
        assert T.POSE_QUESTIONS[qid] == p["question"]
    assert T.rotation_angle_answer(gt["rotation_angle_deg"]) == qa["rotation_angle"]["answer"]
    assert T.euler_answer(gt["yaw_deg"], gt["pitch_deg"], gt["roll_deg"]) == qa["euler_natural"]["answer"]
    unit = [float(v) for v in gt["translation_unit_vector"].strip("()").split(",")]
    assert T.format_unit_vector(unit) == gt["translation_unit_vector"]
    assert T.direction_answer(gt["translation_direction"], unit) == qa["translation_direction"]["answer"]
    assert T.direction_answer(["left", "forward"], unit) == qa["translation_direction"]["answer"]
    assert T.translation_distance_answer(gt["translation_distance_m"]) == qa["translation_distance"]["answer"]
    # and the parsers read every released answer back
    assert parse("rotation_angle", qa["rotation_angle"]["answer"]) == 89.7
    assert parse("euler", qa["euler_natural"]["answer"]) == (89.6, 2.6, 6.1)
    assert parse("direction", qa["translation_direction"]["answer"]) == (("left", "forward"), (-0.69, 0.02, 0.72))
    assert parse("distance", qa["translation_distance"]["answer"]) == 1.98


def test_correspondence_released_template():
    # facebookresearch/VLM3 sample_data/pixel_corr_labels.json "example_prompt" (file not in shared/)
    assert T.correspondence_question(440, 60) == (
        "Given these two images, what pixel in the second image corresponds to pixel (440, 60) in the "
        "first image? Report the answer as (x, y).")
    assert T.correspondence_answer(338, 52) == "The corresponding pixel is (338, 52)"
    assert len(T.CORRESPONDENCE_QUESTIONS) == 5
    for i in range(5):
        q = T.correspondence_question(7, 993, template=i)
        assert "(7, 993)" in q and q.endswith("Report the answer as (x, y).")


# ----------------------------------------------------------------------------- formats


def test_depth_styles_and_variants():
    assert T.depth_answer(3.52) == "3.52 meters"
    assert T.depth_answer(3.5249) == "3.52 meters"
    assert T.depth_answer(3.52, style="fixed") == "03.52 meters"
    assert T.depth_answer(3.52, style="fixed", width=6) == "003.52 meters"
    assert T.depth_answer(127.907, style="fixed") == "127.91 meters"
    assert T.depth_answer(3.52, variant="tagged") == "<answer>3.52</answer>"
    assert T.depth_answer(3.52, style="fixed", variant="tagged") == "<answer>03.52</answer>"
    assert T.depth_question(16, 1061, "tagged").startswith(
        "Given this image, how far is the point at coordinates (16, 1061) from the camera?")
    for bad in [dict(style="wide"), dict(variant="x"), dict(style="fixed", width=3)]:
        with pytest.raises(ValueError):
            T.depth_answer(1.0, **bad)
    with pytest.raises(ValueError, match="finite"):
        T.depth_answer(float("nan"))


def test_fill_regions_errors_and_order():
    boxes = [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert T.fill_regions("<mask> vs <mask>: Region [1] beats Region [0].", boxes) == (
        "bounding box region (1, 2, 3, 4) vs bounding box region (5, 6, 7, 8): "
        "bounding box region (5, 6, 7, 8) beats bounding box region (1, 2, 3, 4).")
    with pytest.raises(ValueError, match="3 <mask> but only 2 boxes"):
        T.fill_regions("<mask> <mask> <mask>", boxes)
    with pytest.raises(ValueError, match=r"Region \[2\]"):
        T.fill_regions("Region [2] is big.", boxes)
    with pytest.raises(ValueError, match="4 numbers"):
        T.region_text([1, 2, 3])


EXPECTED_CATEGORIES = {
    "distance_data", "horizontal_distance_data", "vertical_distance_data", "width_data", "height_data",
    "direction",
    *(f"{p}_predicate" for p in "above below left right behind front big small tall short wide thin".split()),
    *(f"{c}_choice" for c in "above below left right tall short".split()),
}


def test_object_categories_complete_and_parseable():
    assert set(T.OBJECT_CATEGORIES) == EXPECTED_CATEGORIES
    one, two = [[10, 20, 30, 40]], [[10, 20, 30, 40], [500, 600, 700, 800]]
    for cat, spec in T.OBJECT_CATEGORIES.items():
        boxes = one if spec["n_regions"] == 1 else two
        assert len(spec["questions"]) >= 3
        for i in range(len(spec["questions"])):
            q = T.object_question(cat, i, boxes)
            assert "<mask>" not in q and "Region [" not in q
            assert q.count("bounding box region") == len(boxes)
        values = {"distance": [1.52, 0.07, 23.4], "clock": [1, 3, 12], "yesno": [True, False],
                  "choice": [0, 1]}[spec["kind"]]
        for v in values:
            for t in range(6):
                a = T.object_answer(cat, t, boxes, v)
                got = parse(spec["kind"], a)
                if spec["kind"] == "choice":
                    got = resolve_choice(got, boxes)
                assert got == v, (cat, t, a, got)
        if spec["kind"] == "distance":
            assert "1.52 meters" in T.object_answer(cat, 0, boxes, 1.52)
            assert "01.52 meters" in T.object_answer(cat, 0, boxes, 1.52, style="fixed")
    with pytest.raises(ValueError, match="unknown object category"):
        T.object_question("nope", 0, one)
    with pytest.raises(ValueError, match="needs 2 boxes"):
        T.object_question("distance_data", 0, one)
    with pytest.raises(ValueError, match="clock hour"):
        T.object_answer("direction", 0, two, 13)


def test_make_record_layout():
    rec = T.make_record("d/s/a", "depth", "d", "s", ["a.png", "b.png"], [("q1", "a1"), ("q2", "a2")],
                        [{"kind": "depth", "value": 1.0}, {"kind": "depth", "value": 2.0}], image_ids=["a"])
    m = rec["messages"]
    assert [x["role"] for x in m] == ["user", "assistant", "user", "assistant"]
    assert m[0]["content"] == [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "q1"}]
    assert m[2]["content"] == [{"type": "text", "text": "q2"}]
    assert m[3]["content"] == [{"type": "text", "text": "a2"}]
    assert rec["meta"] == {"targets": [{"kind": "depth", "value": 1.0}, {"kind": "depth", "value": 2.0}],
                           "image_ids": ["a"]}
    with pytest.raises(ValueError, match="2 turns but 1 targets"):
        T.make_record("x", "depth", "d", "s", [], [("q", "a"), ("q", "a")], [{}])
