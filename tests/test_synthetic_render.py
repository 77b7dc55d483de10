"""Analytic checks of the numpy ray caster: known intersection depths for each primitive."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vlm3.synthetic import raycast
from vlm3.synthetic.raycast import render
from vlm3.synthetic.scene import Camera, Obj, Room, Scene, SyntheticParams, look_at, sample_cameras, sample_scene
from vlm3.synthetic.textures import PALETTE, random_texture
from vlm3.utils import rng_for

W, H, F = 65, 49, 50.0
CX, CY = 32.0, 24.0  # a pixel centre: the principal ray is exactly one pixel's ray


def _tex(color=(0.5, 0.5, 0.5)):
    return random_texture(rng_for(0, "test-tex"), color, np.asarray(color) * 0.6, 0.5)


def _scene(objects=(), half=50.0, height=20.0):
    room = Room(half, half, height, _tex(), _tex(), _tex())
    return Scene("t", room, tuple(objects), (0.0, 0.0, 1.0), 0.4)


def _cam(eye, target, roll=0.0, f=F):
    return Camera(W, H, f, f, CX, CY, look_at(eye, target, roll))


def _obj(category, center, size, yaw=0.0, color="red"):
    c = np.asarray(PALETTE[color])
    return Obj(f"the {color} {category}", color, category, tuple(center), tuple(size), yaw,
               random_texture(rng_for(0, "obj"), c, c * 0.6, 0.2))


def test_look_at_axes_opencv():
    T = look_at([0, 0, 1], [0, 5, 1])  # looking north (+Y world) from 1 m height
    np.testing.assert_allclose(T[:3, 0], [1, 0, 0], atol=1e-12)   # X right = east
    np.testing.assert_allclose(T[:3, 1], [0, 0, -1], atol=1e-12)  # Y down = -Z world
    np.testing.assert_allclose(T[:3, 2], [0, 1, 0], atol=1e-12)   # Z forward
    np.testing.assert_allclose(T[:3, 3], [0, 0, 1])
    with pytest.raises(ValueError, match="vertical"):
        look_at([0, 0, 2], [0, 0, 0])


@pytest.mark.parametrize("pitch_deg", [10.0, 25.0, 40.0])
def test_ground_plane_depth_is_h_over_sin_pitch(pitch_deg):
    h, th = 1.6, math.radians(pitch_deg)
    cam = _cam([0, 0, h], [0, math.cos(th), h - math.sin(th)])
    r = render(_scene(), cam)
    assert r.depth.dtype == np.float32 and r.depth.shape == (H, W)
    assert r.depth[int(CY), int(CX)] == pytest.approx(h / math.sin(th), rel=1e-6)
    # Every ground row: z = h / (sin(pitch) + y_n cos(pitch)), y_n = (v - cy) / f, constant along u.
    for v in range(H):
        yn = (v - CY) / F
        denom = math.sin(th) + yn * math.cos(th)
        if denom <= 0 or h / denom > 40:  # above the horizon or hitting the far wall
            continue
        np.testing.assert_allclose(r.depth[v], h / denom, rtol=1e-6)
    assert (r.instance == 0).all()


def test_ceiling_and_wall_depths():
    # Level camera 1 m above ground in a 10 m x 10 m x 3 m room, looking at the +Y wall.
    room_scene = _scene(half=5.0, height=3.0)
    r = render(room_scene, _cam([0, 1.0, 1.0], [0, 2.0, 1.0]))
    assert r.depth[int(CY), int(CX)] == pytest.approx(4.0, rel=1e-6)  # wall at y = 5
    # Top row centre ray: y_n = -24/50; it meets the ceiling (2 m up) at z = 2 / 0.48 = 4.1667 m,
    # beyond the wall (4 m): so the wall is hit at z = 4 too.
    assert r.depth[0, int(CX)] == pytest.approx(4.0, rel=1e-6)
    # Looking up at 45 degrees: the principal ray meets the ceiling at distance 2 * sqrt(2).
    r = render(room_scene, _cam([0, 0.0, 1.0], [0, 1.0, 2.0]))
    assert r.depth[int(CY), int(CX)] == pytest.approx(2 * math.sqrt(2), rel=1e-6)


def test_sphere_depth_and_instance():
    rad, dist = 0.5, 5.0
    sph = _obj("sphere", (0, 0, rad), (2 * rad,) * 3)
    r = render(_scene([sph]), _cam([0, -dist, rad], [0, 0, rad]))
    assert r.depth[int(CY), int(CX)] == pytest.approx(dist - rad, rel=1e-6)
    assert r.instance[int(CY), int(CX)] == 1
    # Silhouette: the sphere subtends asin(r / d); a ray at angle a hits iff tan(a) < tan(asin(r/d)).
    lim = math.tan(math.asin(rad / dist)) * F
    u = np.arange(W) - CX
    np.testing.assert_array_equal(r.instance[int(CY)] == 1, np.abs(u) < lim)
    assert r.hit_px[0] == (r.instance == 1).sum()
    red = r.rgb[int(CY), int(CX)].astype(int)
    assert red[0] > 2 * red[1] and red[0] > 2 * red[2]  # "the red sphere" looks red


@pytest.mark.parametrize("yaw, depth_axis", [(0.0, 2), (math.pi / 2, 0)])
def test_box_face_depth_follows_yaw(yaw, depth_axis):
    size = (0.6, 1.0, 1.4)  # w along object X, h vertical, l along object Z
    box = _obj("box", (0, 0, 0.5), size, yaw)
    r = render(_scene([box]), _cam([0, -4.0, 0.5], [0, 0, 0.5]))
    # yaw 0: object Z (length) is world +Y, so the face at y = -l/2 is seen; yaw 90 deg: width.
    assert r.depth[int(CY), int(CX)] == pytest.approx(4.0 - size[depth_axis] / 2, rel=1e-6)
    assert r.instance[int(CY), int(CX)] == 1
    # The object's 3D corners span exactly its size in its own frame.
    corners = box.corners_world()
    local = (corners - np.asarray(box.center)) @ box.R_obj_to_world
    np.testing.assert_allclose(np.abs(local), np.broadcast_to(np.asarray(size) / 2, (8, 3)), atol=1e-12)


def test_cylinder_side_and_top_cap():
    rad, hgt = 0.4, 1.2
    cyl = _obj("cylinder", (0, 0, hgt / 2), (2 * rad, hgt, 2 * rad), 0.3)
    r = render(_scene([cyl]), _cam([0, -3.0, 0.6], [0, 0, 0.6]))
    assert r.depth[int(CY), int(CX)] == pytest.approx(3.0 - rad, rel=1e-6)
    # From 1 m above the top, 1 m back, looking at the centre of the top cap (45 deg down):
    # the principal ray hits the cap at its centre, z = sqrt(2).
    r = render(_scene([cyl]), _cam([0, -1.0, hgt + 1.0], [0, 0, hgt]))
    assert r.depth[int(CY), int(CX)] == pytest.approx(math.sqrt(2), rel=1e-6)
    assert r.instance[int(CY), int(CX)] == 1


def test_nearest_object_wins():
    near = _obj("sphere", (0, -1.0, 0.3), (0.6,) * 3, color="blue")
    far = _obj("box", (0, 1.0, 0.5), (2.0, 1.0, 1.0), color="red")
    r = render(_scene([far, near]), _cam([0, -4.0, 0.3], [0, 0, 0.3]))
    assert r.instance[int(CY), int(CX)] == 2  # the sphere, listed second, is in front
    assert r.depth[int(CY), int(CX)] == pytest.approx(3.0 - 0.3, rel=1e-6)
    assert r.hit_px[0] > (r.instance == 1).sum()  # the box is partly hidden behind the sphere


@settings(max_examples=40, deadline=None)
@given(eye=st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(0.1, 3)),
       tgt=st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(0, 2)),
       roll=st.floats(-0.5, 0.5))
def test_look_at_is_a_rotation_aimed_at_the_target(eye, tgt, roll):
    d = np.subtract(tgt, eye)
    assume(np.linalg.norm(d[:2]) > 1e-2)
    T = look_at(eye, tgt, roll)
    R = T[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R[:, 2], d / np.linalg.norm(d), atol=1e-12)
    # Roll turns X about Z from the horizontal towards camera Y (down): positive banks right,
    # so X's world-down component is sin(roll) times the cosine of the pitch.
    assert -R[2, 0] == pytest.approx(math.sin(roll) * math.hypot(R[0, 2], R[1, 2]), abs=1e-12)


@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_screen_space_culling_changes_nothing(monkeypatch, difficulty):
    """Testing objects only inside their projected bounding rectangle is exact."""
    p = SyntheticParams(difficulty=difficulty, sizes=((64, 48),), focal_range=(30.0, 300.0))
    scenes = []
    for i in range(4):
        rng = rng_for(3, "cull", difficulty, i)
        scene = sample_scene(rng, f"c{i}", p)
        scenes += [(scene, cam) for cam in sample_cameras(rng, scene, p)]
    culled = [render(s, c) for s, c in scenes]
    monkeypatch.setattr(raycast, "_screen_rect", lambda cam, obj: (0, cam.height, 0, cam.width))
    full = [render(s, c) for s, c in scenes]
    for a, b in zip(culled, full):
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(a.instance, b.instance)
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.hit_px, b.hit_px)
    assert sum(int(r.hit_px.sum()) for r in full) > 0


def test_orbit_cameras_share_a_distance_within_the_spread():
    """same_distance: every view of a scene is at one distance from the target (before the aim
    jitter turns it) and within +-spread_deg of the others' azimuth; the default keeps its draws."""
    p = SyntheticParams(sizes=((64, 48),), focal_range=(50, 60), spread_deg=12.0, same_distance=True)
    for i in range(20):
        rng = rng_for(4, "orbit", i)
        scene = sample_scene(rng, f"o{i}", p)
        cams = sample_cameras(rng, scene, p)
        tgt = np.asarray(scene.target)
        eyes = np.stack([c.c2w[:3, 3] for c in cams])
        dists = np.hypot(eyes[:, 0] - tgt[0], eyes[:, 1] - tgt[1])
        np.testing.assert_allclose(dists, dists[0], rtol=1e-12)
        assert 3.0 <= dists[0] <= 6.0
        az = np.degrees(np.arctan2(eyes[:, 1] - tgt[1], eyes[:, 0] - tgt[0]))
        spread = np.abs((az[:, None] - az[None, :] + 180) % 360 - 180).max()
        assert spread <= 24.0 + 1e-9
    # spread_deg equal to the preset's (easy: 40) draws exactly the default cameras
    def cams(params):
        rng = rng_for(1, "x")
        return sample_cameras(rng, sample_scene(rng, "x", params), params)
    for a, b in zip(cams(SyntheticParams()), cams(SyntheticParams(spread_deg=40.0))):
        np.testing.assert_array_equal(a.c2w, b.c2w)
    with pytest.raises(ValueError, match="spread_deg must be in"):
        SyntheticParams(spread_deg=0)


def test_pivot_fraction_one_is_the_orbit_and_small_pivots_turn_on_a_short_arm():
    base = dict(sizes=((64, 48),), focal_range=(50, 60), spread_deg=15.0, same_distance=True)

    def cams(i, **kw):
        rng = rng_for(6, "pivot", i)
        p = SyntheticParams(**base, **kw)
        scene = sample_scene(rng, "p", p)
        return scene, sample_cameras(rng, scene, p)

    for i in range(10):
        scene, orbit = cams(i)
        for a, b in zip(orbit, cams(i, pivot_fraction=1.0)[1]):
            np.testing.assert_allclose(a.c2w, b.c2w, atol=1e-12)
        _, short = cams(i, pivot_fraction=0.1)
        # the three eyes lie on a circle of radius 0.1 D about a pivot 0.9 D from the target
        (ax, ay), (bx, by), (cx, cy) = [c.c2w[:2, 3] for c in short]
        dd = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
        ux = ((ax**2 + ay**2) * (by - cy) + (bx**2 + by**2) * (cy - ay) + (cx**2 + cy**2) * (ay - by)) / dd
        uy = ((ax**2 + ay**2) * (cx - bx) + (bx**2 + by**2) * (ax - cx) + (cx**2 + cy**2) * (bx - ax)) / dd
        r = np.hypot(ax - ux, ay - uy)
        D = r / 0.1
        assert 3.0 - 1e-6 <= D <= 6.0 + 1e-6
        assert np.hypot(ux - scene.target[0], uy - scene.target[1]) == pytest.approx(0.9 * D, rel=1e-6)
    with pytest.raises(ValueError, match="pivot_fraction needs same_distance"):
        SyntheticParams(pivot_fraction=0.5)


def test_compass_walls_turn_hue_with_azimuth_and_change_nothing_else():
    from vlm3.synthetic.textures import CompassTexture

    base = Room(10.0, 10.0, 3.0, _tex(), _tex((0.6, 0.6, 0.6)), _tex()).walls
    tex = CompassTexture(base, 1.0, -2.0, math.radians(180.0))
    # points on a wall at azimuths 0, 60, 120 deg about (1, -2): a 180-deg period puts the hue wheel
    # at 0, 120, 240 deg, where channel 0, 1, 2 respectively peaks
    az = np.radians([0.0, 60.0, 120.0, 180.0])
    p = np.stack([1.0 + 5 * np.cos(az), -2.0 + 5 * np.sin(az), np.full(4, 1.3)], axis=1)
    rgb = tex.albedo(p)
    grey = base.albedo(p).mean(axis=1)
    assert [int(np.argmax(c)) for c in rgb] == [0, 1, 2, 0]
    # channel k = grey * (1 - s + 1.6 s * (0.5 + 0.5 cos(hue - 2 pi k / 3))), s = 0.8
    np.testing.assert_allclose(rgb[0], grey[0] * np.array([0.2 + 1.28, 0.2 + 0.32, 0.2 + 0.32]), rtol=1e-5)
    np.testing.assert_allclose(rgb[3], rgb[3][0] * np.array([1.0, 0.52 / 1.48, 0.52 / 1.48]), rtol=1e-5)

    # the option adds no random draws: cameras, objects, floor and ceiling are those of the plain scene
    from vlm3.synthetic.scene import with_compass

    kw = dict(sizes=((64, 48),), focal_range=(50, 60), spread_deg=15.0, same_distance=True)
    for i in range(5):
        rng_a, rng_b = rng_for(7, "compass", i), rng_for(7, "compass", i)
        pa, pb = SyntheticParams(**kw), SyntheticParams(**kw, compass_deg=180.0)
        sa, sb = sample_scene(rng_a, "c", pa), sample_scene(rng_b, "c", pb)
        ca, cb = sample_cameras(rng_a, sa, pa), sample_cameras(rng_b, sb, pb)
        sa, sb = with_compass(sa, ca, pa), with_compass(sb, cb, pb)
        assert sa.objects == sb.objects and sa.room.floor == sb.room.floor and sa.target == sb.target
        assert sb.room.walls == CompassTexture(sa.room.walls, sa.target[0], sa.target[1], math.pi)
        assert not isinstance(sa.room.walls, CompassTexture)
        for a, b in zip(ca, cb):
            np.testing.assert_array_equal(a.c2w, b.c2w)
    with pytest.raises(ValueError, match="compass_deg must be in"):
        SyntheticParams(compass_deg=0.0)


def test_shared_camera_gives_every_view_of_a_scene_the_first_views_camera():
    kw = dict(sizes=((64, 48), (80, 60), (96, 72)), focal_range=(40, 120), spread_deg=15.0, same_distance=True,
              pivot_fraction=0.15)
    for i in range(6):
        rng_a, rng_b = rng_for(3, "shared", i), rng_for(3, "shared", i)
        pa, pb = SyntheticParams(**kw), SyntheticParams(**kw, shared_camera=True)
        sa, sb = sample_scene(rng_a, "s", pa), sample_scene(rng_b, "s", pb)
        assert sa.objects == sb.objects and sa.target == sb.target
        own, shared = sample_cameras(rng_a, sa, pa), sample_cameras(rng_b, sb, pb)
        first = (shared[0].width, shared[0].height, shared[0].fx, shared[0].fy, shared[0].cx, shared[0].cy)
        # the first view draws exactly what it draws without the option
        assert first == (own[0].width, own[0].height, own[0].fx, own[0].fy, own[0].cx, own[0].cy)
        np.testing.assert_array_equal(shared[0].c2w, own[0].c2w)
        for c in shared[1:]:
            assert (c.width, c.height, c.fx, c.fy, c.cx, c.cy) == first
        # the views still move: distinct eyes on the pan arm
        eyes = np.array([c.c2w[:3, 3] for c in shared])
        assert np.min(np.linalg.norm(eyes[1:] - eyes[0], axis=1)) > 0
    # without the option the views of these scenes draw different cameras
    cams = sample_cameras(rng_for(3, "shared", 0), sample_scene(rng_for(3, "shared", 0), "s", SyntheticParams(**kw)),
                          SyntheticParams(**kw))
    assert len({c.fx for c in cams}) == 3


def test_a_blocked_orbit_arc_is_drawn_again_and_unblocked_scenes_keep_their_cameras():
    # pan_sweep.yaml's train scene 579: the first arc about the pivot has no free position for view 0
    # (the old sampler raised "no free camera position"); the sampler draws another arc instead
    p = SyntheticParams(sizes=((192, 144),), focal_range=(100, 250), withheld=0.1, spread_deg=15.0,
                        same_distance=True, pivot_fraction=0.15)
    rng = rng_for(0, "synthetic", "train", 579)
    scene = sample_scene(rng, "train_00579", p)
    cams = sample_cameras(rng, scene, p)
    assert len(cams) == 3
    for c in cams:
        x, y, z = c.c2w[:3, 3]
        assert abs(x) < scene.room.half_x - 0.3 and abs(y) < scene.room.half_y - 0.3 and z < scene.room.height - 0.3
    # the three eyes share one distance to the target (an orbit of one radius about one pivot)
    (ax, ay), (bx, by), (cx, cy) = [c.c2w[:2, 3] for c in cams]
    dd = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    ux = ((ax**2 + ay**2) * (by - cy) + (bx**2 + by**2) * (cy - ay) + (cx**2 + cy**2) * (ay - by)) / dd
    uy = ((ax**2 + ay**2) * (cx - bx) + (bx**2 + by**2) * (ax - cx) + (cx**2 + cy**2) * (bx - ax)) / dd
    r = [np.hypot(px - ux, py - uy) for px, py in ((ax, ay), (bx, by), (cx, cy))]
    np.testing.assert_allclose(r, r[0], rtol=1e-9)


def test_an_eye_compass_tints_the_whole_room_about_the_first_eye_and_gives_the_yaw():
    from dataclasses import replace

    from vlm3.synthetic.raycast import render
    from vlm3.synthetic.scene import with_compass
    from vlm3.synthetic.textures import CompassTexture

    kw = dict(sizes=((64, 48),), focal_range=(40, 70), spread_deg=25.0, same_distance=True, pivot_fraction=0.15,
              compass_deg=360.0, shared_camera=True)
    p_eye, p_target = SyntheticParams(**kw, compass_about="eye"), SyntheticParams(**kw)
    ph = np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
    hue_diff, yaw = [], []
    for i in range(8):
        rng_a, rng_b = rng_for(5, "eye", i), rng_for(5, "eye", i)
        s_eye, s_target = sample_scene(rng_a, "e", p_eye), sample_scene(rng_b, "e", p_target)
        # the same draws whatever the compass turns about; sampled scenes are untinted
        assert s_eye == s_target and not isinstance(s_eye.room.walls, CompassTexture)
        cams = sample_cameras(rng_a, s_eye, p_eye)
        tinted = with_compass(s_eye, cams, p_eye)
        x, y = cams[0].c2w[:2, 3]
        for surface in ("floor", "walls", "ceiling"):
            t = getattr(tinted.room, surface)
            assert t == CompassTexture(getattr(s_eye.room, surface), float(x), float(y), 2 * np.pi)
        about_target = with_compass(s_target, cams, p_target)  # only the walls, about the look-at point
        assert about_target.room.floor == s_target.room.floor and about_target.room.walls == CompassTexture(
            s_target.room.walls, float(s_target.target[0]), float(s_target.target[1]), 2 * np.pi)
        assert with_compass(s_target, cams, SyntheticParams(**{**kw, "compass_deg": None})) is s_target
        assert replace(tinted, room=s_eye.room) == s_eye  # only the room's textures change
        hues = []
        for c in cams:
            a = render(tinted, c).rgb.astype(float) / 255
            hues.append(complex((a * np.cos(ph)).sum(-1).mean(), (a * np.sin(ph)).sum(-1).mean()))
        for u, v in ((0, 1), (0, 2), (1, 2)):
            fu, fv = cams[u].c2w[:3, 2], cams[v].c2w[:3, 2]
            yaw.append(math.atan2(fu[0] * fv[1] - fu[1] * fv[0], fu[0] * fv[0] + fu[1] * fv[1]))
            hue_diff.append(np.angle(hues[v] / hues[u]))
    # the mean hue difference of two views follows their yaw difference closely
    assert np.corrcoef(hue_diff, yaw)[0, 1] > 0.98
    with pytest.raises(ValueError, match="compass_about must be one of"):
        SyntheticParams(compass_about="sun")


def test_a_ramp_compass_is_linear_in_azimuth_and_centred_on_the_first_views_heading():
    from vlm3.synthetic.raycast import render
    from vlm3.synthetic.scene import with_compass
    from vlm3.synthetic.textures import CompassTexture

    base = Room(10.0, 10.0, 3.0, _tex(), _tex((0.6, 0.6, 0.6)), _tex()).walls
    tex = CompassTexture(base, 1.0, -2.0, 2 * np.pi, style="ramp", ref=math.radians(30.0))
    # azimuths about (1, -2): the ramp's middle (30 deg), a quarter period either side, and just short
    # of its wrap (30 + 179 deg) where it has almost reached red
    az = np.radians([30.0, 120.0, -60.0, 209.0])
    p = np.stack([1.0 + 5 * np.cos(az), -2.0 + 5 * np.sin(az), np.full(4, 1.3)], axis=1)
    rgb, grey = tex.albedo(p), base.albedo(p).mean(axis=1)
    t = np.array([0.0, 0.5, -0.5, 179.0 / 180.0])
    # channel = grey * (1 - s + 1.6 s w), s = 0.8, w = (0.5 + 0.5 t, 0.5, 0.5 - 0.5 t)
    want = grey[:, None] * (0.2 + 1.28 * np.stack([0.5 + 0.5 * t, np.full(4, 0.5), 0.5 - 0.5 * t], axis=1))
    np.testing.assert_allclose(rgb, want, rtol=1e-5)

    kw = dict(sizes=((64, 48),), focal_range=(40, 70), spread_deg=25.0, same_distance=True, pivot_fraction=0.15,
              compass_deg=360.0, shared_camera=True, compass_about="eye")
    p_ramp, p_wheel = SyntheticParams(**kw, compass_style="ramp"), SyntheticParams(**kw)
    level_diff, yaw = [], []
    for i in range(8):
        rng_a, rng_b = rng_for(5, "eye", i), rng_for(5, "eye", i)
        s_ramp, s_wheel = sample_scene(rng_a, "e", p_ramp), sample_scene(rng_b, "e", p_wheel)
        cams = sample_cameras(rng_a, s_ramp, p_ramp)
        assert s_ramp == s_wheel  # the style adds no random draws
        tinted = with_compass(s_ramp, cams, p_ramp)
        x, y = cams[0].c2w[:2, 3]
        fwd = cams[0].c2w[:2, 2]
        assert tinted.room.floor == CompassTexture(s_ramp.room.floor, float(x), float(y), 2 * np.pi, style="ramp",
                                                   ref=math.atan2(float(fwd[1]), float(fwd[0])))
        levels = []
        for c in cams:
            a = render(tinted, c).rgb.astype(float) / 255
            levels.append((a[..., 0] - a[..., 2]).mean() / a.mean())
        for u, v in ((0, 1), (0, 2), (1, 2)):
            fu, fv = cams[u].c2w[:3, 2], cams[v].c2w[:3, 2]
            yaw.append(math.atan2(fu[0] * fv[1] - fu[1] * fv[0], fu[0] * fv[0] + fu[1] * fv[1]))
            level_diff.append(levels[v] - levels[u])
    # the difference of two views' red-minus-blue levels is a linear read of their yaw difference
    assert np.corrcoef(level_diff, yaw)[0, 1] > 0.98
    with pytest.raises(ValueError, match="compass_style must be one of"):
        SyntheticParams(compass_style="sun")
