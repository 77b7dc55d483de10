"""QA generation on a hand-built 32x24 resized folder with known plane depth and known cameras.

Scene: the plane Z = 5 m (world). f = 16 px, cx = 15.5, cy = 11.5 (pixel-centre convention).
  v1: c2w = identity.             v2: centre (1.2, 0, 1.6), no rotation.
  v3: centre (1, 0, 0), yaw +30 deg (turned right: R_y(30)).
Depth of each view is computed analytically here (ray/plane intersection), independent of the code.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
from _qa_scene import CX, CY, OBJECTS, PLANE_Z, POSES, F, H, W, c2w, make_resized, plane_depth, ry

from vlm3.errors import run_stage
from vlm3.geometry import normalize_point
from vlm3.qa import templates as T
from vlm3.qa.build import build, main
from vlm3.qa.correspondence import visible_in_view2
from vlm3.qa.objects import _valid_objects, gravity_down
from vlm3.qa.parse import parse, resolve_choice
from vlm3.qa.pose import pose_turns
from vlm3.qa.resized import load_resized

BOX_A, BOX_B = [125, 250, 375, 833], [562, 333, 687, 500]  # int(x / 32 * 1000), int(y / 24 * 1000)


def read(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- depth


def test_depth_records_exact(tmp_path):
    folder = make_resized(tmp_path)
    out = tmp_path / "depth.jsonl"
    counts = build("depth", folder, out, seed=3, questions_per_image=10, border=10)
    recs = read(out)
    assert [r["id"] for r in recs] == ["toy/test/v1", "toy/test/v2", "toy/test/v3"]
    assert counts["depth"] == 30 and counts["records"] == 3
    for r in recs:
        d = np.load(folder / "depth" / f"{r['meta']['image_ids'][0]}.npy")
        assert r["task"] == "depth" and r["meta"]["depth_kind"] == "z"
        assert r["messages"][0]["content"][0] == {"type": "image"}
        pix = [tuple(t["pixel"]) for t in r["meta"]["targets"]]
        assert len(set(pix)) == 10
        for i, t in enumerate(r["meta"]["targets"]):
            u, v = t["pixel"]
            assert 10 <= u < W - 10 and 10 <= v < H - 10
            assert t["value"] == float(d[v, u])
            xn, yn = round(u / W * 2000), round(v / H * 2000)  # Python round (half to even), as the paper
            assert t["pixel_norm"] == [xn, yn]
            assert r["messages"][2 * i]["content"][-1]["text"] == T.depth_question(xn, yn)
            assert r["messages"][2 * i + 1]["content"][0]["text"] == f"{t['value']:.2f} meters"
    # v1 looks straight at the plane: z = 5 everywhere
    assert {t["value"] for t in recs[0]["meta"]["targets"]} == {5.0}


def test_depth_deterministic_styles_and_limits(tmp_path):
    folder = make_resized(tmp_path)
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    build("depth", folder, a, seed=1)
    main(["--task", "depth", "--resized", str(folder), "--out", str(b), "--seed", "1"])  # the CLI path
    build("depth", folder, c, seed=2)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    f = tmp_path / "f.jsonl"
    build("depth", folder, f, seed=1, answer_style="fixed", max_records=2, questions_per_image=3, border=0)
    recs = read(f)
    assert len(recs) == 2 and all(len(r["meta"]["targets"]) == 3 for r in recs)
    assert recs[0]["messages"][1]["content"][0]["text"] == "05.00 meters"


# ----------------------------------------------------------------------------- correspondence


def test_visible_hand_computed_point(tmp_path):
    res = load_resized(make_resized(tmp_path), need_pairs=True)
    d2 = np.load(res.folder / "depth" / "v2.npy")
    ok, uv2 = visible_in_view2(np.array([[20, 12]]), np.array([5.0]), res.row("v1"), res.row("v2"), d2)
    # X = (20 - 15.5) / 16 * 5 = 1.40625, Y = 0.15625; in camera 2: (0.20625, 0.15625, 3.4)
    assert ok.tolist() == [True]
    np.testing.assert_allclose(uv2[0], [16 * 0.20625 / 3.4 + 15.5, 16 * 0.15625 / 3.4 + 11.5], atol=1e-12)
    assert normalize_point(*uv2[0], W, H, scale=1000) == (515, 510)  # 16.4706/32, 12.2353/24
    # u1 = 8 lands at u2 = -1.18 (outside), u1 = 9 at u2 = 0.294 (inside)
    ok, uv2 = visible_in_view2(np.array([[8, 12], [9, 12]]), np.array([5.0, 5.0]), res.row("v1"),
                               res.row("v2"), d2)
    assert ok.tolist() == [False, True]
    np.testing.assert_allclose(uv2[:, 0], [16 * (-2.34375 - 1.2) / 3.4 + 15.5, 16 * (-2.03125 - 1.2) / 3.4 + 15.5])


@pytest.mark.parametrize("kind", ["z", "ray"])
def test_correspondence_records_exact(tmp_path, kind):
    folder = make_resized(tmp_path, kind=kind)
    out = tmp_path / "corr.jsonl"
    counts = build("correspondence", folder, out, seed=0, questions_per_image=10, border=2)
    recs = read(out)
    assert [r["id"] for r in recs] == ["toy/test/p0", "toy/test/p1"]  # p2 is below covisibility 0.25
    assert counts["pairs_below_min_covisibility"] == 1
    for r in recs:
        v1, v2 = r["meta"]["image_ids"]
        assert r["messages"][0]["content"][:2] == [{"type": "image"}, {"type": "image"}]
        w2c = np.linalg.inv(POSES[v2])
        assert len(r["meta"]["targets"]) == 10
        for i, t in enumerate(r["meta"]["targets"]):
            u1, v1_ = t["pixel_1"]
            p = np.array([(u1 - CX) / F * PLANE_Z, (v1_ - CY) / F * PLANE_Z, PLANE_Z, 1.0])  # v1 = identity
            q = w2c @ p
            u2, v2_ = F * q[0] / q[2] + CX, F * q[1] / q[2] + CY
            np.testing.assert_allclose(t["pixel_2"], [u2, v2_], atol=1e-6)
            assert -0.5 <= u2 < W - 0.5 and -0.5 <= v2_ < H - 0.5
            assert t["value"] == list(normalize_point(u2, v2_, W, H, scale=1000))
            assert t["query"] == list(normalize_point(u1, v1_, W, H, scale=1000))
            assert parse("point", r["messages"][2 * i + 1]["content"][0]["text"]) == tuple(t["value"])
            assert f"({t['query'][0]}, {t['query'][1]})" in r["messages"][2 * i]["content"][-1]["text"]


def test_correspondence_occlusion(tmp_path):
    # an occluder 2 m in front of camera 2 over its right half: those projections are rejected
    d2 = plane_depth(POSES["v2"], "z")
    d2[:, 16:] = 2.0
    folder = make_resized(tmp_path, depth_override={"v2": d2})
    out = tmp_path / "corr.jsonl"
    build("correspondence", folder, out, seed=0, questions_per_image=50, border=0)
    t = read(out)[0]["meta"]["targets"]
    assert len(t) == 50
    assert all(math.floor(x["pixel_2"][0] + 0.5) < 16 for x in t)
    # off-image projections are rejected too: u2 = 16 * (X - 1.2) / 3.4 + 15.5 >= -0.5 needs u1 >= 9
    assert all(x["pixel_1"][0] >= 9 for x in t)


# ----------------------------------------------------------------------------- pose


def test_pose_records_exact(tmp_path):
    out = tmp_path / "pose.jsonl"
    build("pose", make_resized(tmp_path), out, seed=0)
    recs = read(out)
    assert [r["id"] for r in recs] == ["toy/test/p0", "toy/test/p1"]
    texts = [[m["content"][-1]["text"] for m in r["messages"]] for r in recs]
    assert texts[0][0::2] == list(T.POSE_QUESTIONS.values())
    assert texts[0][1::2] == ["Rotation angle: 0.0 degrees", "Yaw=+0.0\u00b0, Pitch=+0.0\u00b0, Roll=+0.0\u00b0",
                              "The camera moves right, forward, unit vector (+0.60, +0.00, +0.80).",
                              "Translation distance: 2.00 meters"]
    assert texts[1][1::2] == ["Rotation angle: 30.0 degrees", "Yaw=+30.0\u00b0, Pitch=+0.0\u00b0, Roll=+0.0\u00b0",
                              "The camera moves right, unit vector (+1.00, +0.00, +0.00).",
                              "Translation distance: 1.00 meters"]
    tg = recs[1]["meta"]["targets"]
    assert [t["kind"] for t in tg] == ["rotation_angle", "euler", "direction", "distance"]
    assert tg[0]["value"] == pytest.approx(30.0, abs=1e-9)
    np.testing.assert_allclose(tg[1]["value"], [30.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(tg[2]["value"], [1.0, 0.0, 0.0], atol=1e-12)
    assert tg[3]["value"] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(np.reshape(recs[1]["meta"]["T_12"], (4, 4)), POSES["v3"], atol=1e-12)
    # the fixed style pads the distance; all pairs with --min-covisibility 0
    build("pose", tmp_path / "resized" / "toy" / "test", out, answer_style="fixed", min_covisibility=0.0)
    recs = read(out)
    assert len(recs) == 3 and recs[0]["messages"][-1]["content"][0]["text"] == "Translation distance: 02.00 meters"


def test_pose_same_centre_rejected():
    with pytest.raises(ValueError, match="share a centre"):
        pose_turns(np.eye(4), c2w(ry(10), [0, 0, 0]))


# ----------------------------------------------------------------------------- objects

# ordered pair (A = red box, B = blue ball): d = B - A = (2, -1, 3), camera gravity (0, 1, 0)
EXPECTED_AB = {
    "distance_data": math.sqrt(14), "horizontal_distance_data": math.sqrt(13), "vertical_distance_data": 1.0,
    "direction": 1,  # atan2(2, 3) = 33.7 deg -> 1 o'clock
    "above_predicate": False, "below_predicate": True, "left_predicate": True, "right_predicate": False,
    "behind_predicate": False, "front_predicate": True, "big_predicate": True, "small_predicate": False,
    "tall_predicate": True, "short_predicate": False, "wide_predicate": True, "thin_predicate": False,
    "left_choice": 0, "right_choice": 1, "above_choice": 1, "below_choice": 0, "tall_choice": 0,
    "short_choice": 1,
}
EXPECTED_BA = {**{k: (not v if isinstance(v, bool) else v) for k, v in EXPECTED_AB.items()},
               **{k: 1 - v for k, v in EXPECTED_AB.items() if k.endswith("_choice")},
               "direction": 7}  # atan2(-2, -3) = -146.3 deg -> -4.88 h -> 7 o'clock
SINGLE = {("width_data", 0): 1.0, ("height_data", 0): 2.0, ("width_data", 1): 0.5, ("height_data", 1): 0.5}


def test_object_records_exact_and_balanced(tmp_path):
    out = tmp_path / "obj.jsonl"
    counts = build("object", make_resized(tmp_path), out, seed=5, questions_per_image=48, world_up="camera")
    recs = read(out)
    assert len(recs) == 48 and counts["images_without_objects"] == 2  # only v1 has objects
    cats = [r["meta"]["targets"][0]["category"] for r in recs]
    assert len(set(cats[:24])) == 24  # balanced: every category once before any repeats
    assert sorted(set(cats)) == sorted(T.OBJECT_CATEGORIES)
    seen = set()
    for r in recs:
        (t,) = r["meta"]["targets"]
        boxes, cat = t["boxes"], t["category"]
        ids = tuple({tuple(BOX_A): 0, tuple(BOX_B): 1}[tuple(b)] for b in boxes)
        seen.add((cat, ids))
        if len(ids) == 1:
            assert t["value"] == SINGLE[(cat, ids[0])]
        else:
            exp = (EXPECTED_AB if ids == (0, 1) else EXPECTED_BA)[cat]
            assert t["value"] == pytest.approx(exp, abs=1e-12) and type(t["value"]) is type(exp)
        q, a = r["messages"][0]["content"][-1]["text"], r["messages"][1]["content"][0]["text"]
        assert q.count("bounding box region") == len(boxes)
        got = parse(t["kind"], a)
        if t["kind"] == "choice":
            got = resolve_choice(got, boxes)
        if t["kind"] == "distance":
            assert got == pytest.approx(t["value"], abs=0.005)
        else:
            assert got == t["value"]
    assert len(seen) == 48  # every candidate question exactly once


def test_unusable_objects_ignored():
    good = dict(OBJECTS[0])
    objs = [good, {**good, "visible_px": 0}, {**good, "center": [0, 0, -1]}, {**good, "size": [0, 1, 1]},
            {**good, "box2d": [5, 5, 5, 9]}, {k: v for k, v in good.items() if k != "center"}]
    kept = _valid_objects(objs, W, H)
    assert len(kept) == 1 and kept[0].box == BOX_A and kept[0].name == "the red box"


def test_gravity_from_pose():
    # a level camera in a Z-up world: camera X = world X, camera Y (down) = world -Z, forward = world +Y
    R = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    row = {"image_id": "x", "cam_to_world": c2w(R, [0, 0, 1.5]).reshape(-1).tolist()}
    down, from_pose = gravity_down(row, "auto")
    np.testing.assert_allclose(down, [0, 1, 0], atol=1e-12)
    assert from_pose
    down, from_pose = gravity_down({"image_id": "x", "cam_to_world": None}, "auto")
    assert down.tolist() == [0, 1, 0] and not from_pose
    with pytest.raises(ValueError, match="world_up"):
        gravity_down(row, "up")


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs(tmp_path, capsys):
    out = tmp_path / "x.jsonl"
    with pytest.raises(ValueError, match="no index.parquet"):
        build("depth", tmp_path / "nowhere", out)
    folder = make_resized(tmp_path)
    with pytest.raises(ValueError, match="--task"):
        build("height", folder, out)
    with pytest.raises(ValueError, match="--questions-per-image"):
        build("depth", folder, out, questions_per_image=0)
    # a border that leaves no pixel: clear error, nothing written
    with pytest.raises(ValueError, match="no depth question could be generated"):
        build("depth", folder, out, border=12)
    assert not out.exists() and not list(tmp_path.glob(".x.jsonl.*"))
    (folder / "pairs.parquet").unlink()
    with pytest.raises(ValueError, match="no pairs.parquet"):
        build("pose", folder, out)
    empty = tmp_path / "e" / "toy" / "test"
    empty.mkdir(parents=True)
    pd.read_parquet(folder / "index.parquet").iloc[:0].to_parquet(empty / "index.parquet")
    with pytest.raises(ValueError, match="no rows"):
        build("depth", empty, out)
    with pytest.raises(SystemExit) as e:
        run_stage(main, "vlm3.qa.build", ["--task", "depth", "--resized", str(empty), "--out", str(out)])
    err = capsys.readouterr().err
    assert e.value.code == 1 and err.splitlines()[-1].startswith("vlm3.qa.build: error: ") and "no rows" in err


def test_missing_pose_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="cam_to_world missing"):
        build("pose", make_resized(tmp_path, poses=False), tmp_path / "p.jsonl")


# ----------------------------------------------------------------------------- benchmark rows


def make_bench(root):
    """Rows as the SpatialRGPT-Bench loader writes them (after resize): regions + conversations."""
    folder = root / "resized" / "srgpt" / "test"
    folder.mkdir(parents=True)
    two = [[0, 33, 740, 850], [7, 324, 258, 479]]  # px of a 1134x851 image
    qas = [("small_predicate", "<image>\n Can you confirm if <mask> is smaller than <mask>?",
            "Incorrect, Region [0] is not smaller in size than Region [1].", two),
           ("height_data", "<image>\nWhat is the height of <mask>?", "The height of Region [0] is 63.5 inches.",
            two[:1]),
           ("left_choice", "<image>\nWhich is more to the left, <mask> or <mask>?", "Region [1] is more to the left.",
            two),
           ("direction", "<image>\nIf you are at <mask>, where will you find <mask>?",
            "Region [1] is roughly at 10 o'clock from Region [0].", two),
           ("distance_data", "<image>\nHow far apart are <mask> and <mask>?", "I don't know.", two)]
    rows = []
    for i, (cat, q, a, boxes) in enumerate(qas):
        objs = [{"name": f"Region [{k}]", "category": None, "box2d": b, "center": None, "size": None,
                 "yaw": None, "mask_path": None} for k, b in enumerate(boxes)]
        rows.append({"image_id": f"q{i}", "scene_id": "s", "image_path": "img.png", "width": 1134, "height": 851,
                     "fx": 1000.0, "fy": 1000.0, "cx": 566.0, "cy": 425.0, "dist_model": "none", "dist_params": [],
                     "depth_path": None, "depth_format": None, "depth_kind": None, "depth_min": np.nan,
                     "depth_max": np.nan, "cam_to_world": None, "objects": json.dumps(objs), "question": "",
                     "conversations": json.dumps([{"from": "human", "value": q}, {"from": "gpt", "value": a}]),
                     "answer": a, "qa_type": "x", "qa_category": cat})
    pd.DataFrame(rows).to_parquet(folder / "index.parquet")
    return folder


def test_benchmark_rows_keep_their_questions(tmp_path):
    out = tmp_path / "bench.jsonl"
    counts = build("object", make_bench(tmp_path), out)
    recs = read(out)
    assert counts["benchmark_answers_unparsed"] == 1 and len(recs) == 4
    A, B = "bounding box region (0, 38, 652, 998)", "bounding box region (6, 380, 227, 562)"
    texts = [(r["messages"][0]["content"][1]["text"], r["messages"][1]["content"][0]["text"]) for r in recs]
    assert texts[0] == (f"Can you confirm if {A} is smaller than {B}?",
                        f"Incorrect, {A} is not smaller in size than {B}.")
    assert texts[1] == (f"What is the height of {A}?", f"The height of {A} is 63.5 inches.")
    assert texts[2][1] == f"{B} is more to the left."
    t = [r["meta"]["targets"][0] for r in recs]
    assert [x["kind"] for x in t] == ["yesno", "distance", "choice", "clock"]
    assert t[0]["value"] is False and t[2]["value"] == 1 and t[3]["value"] == 10
    assert t[1]["value"] == pytest.approx(63.5 * 0.0254, abs=1e-12)
    assert t[0]["boxes"] == [[0, 38, 652, 998], [6, 380, 227, 562]]
    assert [r["id"] for r in recs] == ["srgpt/test/q0", "srgpt/test/q1", "srgpt/test/q2", "srgpt/test/q3"]


@pytest.mark.parametrize("regions", ["filled", "index"])
def test_object_cli_passes_answer_regions(tmp_path, regions):
    """`--answer-regions index` reached the CLI's parser but not `build` (the embedded default's
    object answers kept restating boxes although its config asked for 'Region [i]')."""
    out = tmp_path / "obj.jsonl"
    main(["--task", "object", "--resized", str(make_resized(tmp_path)), "--out", str(out), "--seed", "5",
          "--questions-per-image", "24", "--world-up", "camera", "--answer-regions", regions])
    answers = [r["messages"][1]["content"][0]["text"] for r in read(out)]
    assert len(answers) == 24
    with_box = sum("bounding box region" in a for a in answers)
    with_index = sum("Region [" in a for a in answers)
    assert (with_box, with_index) == ((24, 0) if regions == "filled" else (0, 24))


@pytest.mark.parametrize("style", ["paper", "fixed"])
def test_correspondence_offset_answers_name_the_shift_and_score_as_the_point(tmp_path, style):
    """`--answer-points offset`: the same pixels as the absolute answers, each answer the shift from
    the query; scoring a correct shift gives the point itself (EPE 0), as for the absolute answer."""
    from vlm3.records import questions
    from vlm3.score import read_answer

    folder = make_resized(tmp_path)
    main(["--task", "correspondence", "--resized", str(folder), "--out", str(tmp_path / "abs.jsonl"),
          "--border", "2", "--answer-style", style])
    main(["--task", "correspondence", "--resized", str(folder), "--out", str(tmp_path / "off.jsonl"),
          "--border", "2", "--answer-style", style, "--answer-points", "offset"])
    absolute, offset = read(tmp_path / "abs.jsonl"), read(tmp_path / "off.jsonl")
    assert [r["id"] for r in offset] == [r["id"] for r in absolute] == ["toy/test/p0", "toy/test/p1"]
    n = 0
    for ra, ro in zip(absolute, offset):
        for qa, qo in zip(questions(ra), questions(ro)):
            ta, to = qa["target"], qo["target"]
            assert (ta["kind"], to["kind"]) == ("point", "offset")
            assert {k: v for k, v in ta.items() if k != "kind"} == {k: v for k, v in to.items() if k != "kind"}
            dx, dy = to["value"][0] - to["query"][0], to["value"][1] - to["query"][1]
            fmt = "{:+04d}" if style == "fixed" else "{:+d}"
            answer = [m for m in ro["messages"] if m["role"] == "assistant"][qo["turn"]]["content"][0]["text"]
            assert answer == f"The point moves by ({fmt.format(dx)}, {fmt.format(dy)})"
            assert qo["question"].endswith("Report the answer as the shift (dx, dy) of the point from (x, y).")
            assert qo["question"].replace("the shift (dx, dy) of the point from (x, y)", "(x, y)") == qa["question"]
            assert read_answer({**qo, "prediction": answer}) == tuple(to["value"])
            # a wrong shift lands where it points: query + shift
            assert read_answer({**qo, "prediction": "The point moves by (-7, +12)"}) == (
                to["query"][0] - 7, to["query"][1] + 12)
            n += 1
    assert n == 20
