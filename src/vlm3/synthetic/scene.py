"""Scenes and cameras of the synthetic benchmark, and their procedural sampling.

World frame: metres, right-handed, Z up (gravity along -Z); the ground is the plane z = 0. The
room is the axis-aligned box [-half_x, half_x] x [-half_y, half_y] x [0, height], so every camera
ray hits something (no sky; depth is valid everywhere).

Objects stand on the ground. Each has its own frame (the contract's object frame): X = width axis
(cos yaw, sin yaw, 0), Y = down (0, 0, -1), Z = length axis (-sin yaw, cos yaw, 0). `yaw` (rad) is
measured in the world frame, counter-clockwise about +Z from world +X to the object's X axis.
`size` = [w, h, l]: extent along X, Y (vertical) and Z. `center` is the world-frame centre of the
object's 3D box (half its height above the ground). Spheres: w = h = l = 2r; vertical cylinders:
w = l = 2r.

Cameras: OpenCV axes (X right, Y down, Z forward), `c2w` 4x4 camera-to-world, K with fx == fy
(square pixels) and a principal point near the image centre ((W-1)/2, (H-1)/2 in the pixel-centre
convention of docs/CONTRACTS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from vlm3.geometry.covisibility import COVISIBILITY_TOL
from vlm3.synthetic.textures import NEUTRALS, PALETTE, CompassTexture, Texture, random_texture

CATEGORIES = ("box", "sphere", "cylinder")

# Per-difficulty sampling ranges (metres, degrees). "easy": a camera at a fixed known height over
# a dominant tiled floor (fixed tile size), small pitch and roll, few objects, far walls, so a tiny
# model can learn metric depth. "hard": clutter, random camera heights, tilts and tile sizes.
DIFFICULTY = {
    "easy": dict(n_objects=(1, 3), room_half=(8.0, 12.0), room_height=(3.0, 4.5),
                 region=1.8, target_offset=1.0, target_height=(0.0, 0.5),  # target: no objects
                 distance=(3.0, 6.0), spread_deg=40.0, roll_deg=2.0, jitter_deg=3.0,
                 floor_cell=(0.5, 0.5), camera_height=None),
                 # camera_height None -> SyntheticParams.camera_height (fixed, known)
    "hard": dict(n_objects=(4, 10), room_half=(4.0, 9.0), room_height=(2.6, 5.0),
                 region=3.0, target_offset=1.0, target_height=(0.0, 1.2),
                 distance=(1.5, 6.0), spread_deg=60.0, roll_deg=15.0, jitter_deg=10.0,
                 floor_cell=(0.25, 1.0), camera_height=(0.4, 2.8)),
}


COMPASS_ABOUT = ("target", "eye")  # what `compass_deg` turns about (SyntheticParams.compass_about)
COMPASS_STYLE = ("wheel", "ramp")  # how the compass tints (SyntheticParams.compass_style)


@dataclass(frozen=True)
class Obj:
    name: str                   # "the red box"; unique within a scene (colours are unique)
    color: str
    category: str               # box | sphere | cylinder
    center: tuple[float, float, float]   # world, m (box centre)
    size: tuple[float, float, float]     # [w, h, l], m
    yaw: float                  # rad, world frame about +Z
    texture: Texture

    @property
    def R_obj_to_world(self) -> np.ndarray:
        """3x3 rotation whose columns are the object's X, Y, Z axes in world coordinates."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([[c, 0.0, -s], [s, 0.0, c], [0.0, -1.0, 0.0]])

    @property
    def footprint(self) -> float:
        """Radius (m) of a ground disc around the centre that contains the object."""
        w, _, l = self.size
        return 0.5 * math.hypot(w, l) if self.category == "box" else 0.5 * w

    def corners_world(self) -> np.ndarray:
        """(8, 3) corners of the object's 3D box in world coordinates."""
        half = 0.5 * np.asarray(self.size)
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
        return np.asarray(self.center) + (signs * half) @ self.R_obj_to_world.T


@dataclass(frozen=True)
class Room:
    half_x: float
    half_y: float
    height: float
    floor: Texture
    walls: Texture
    ceiling: Texture


@dataclass(frozen=True)
class Scene:
    scene_id: str
    room: Room
    objects: tuple[Obj, ...]
    light_dir: tuple[float, float, float]   # unit vector towards the light (world)
    ambient: float = 0.4                    # shade = ambient + (1 - ambient) * max(n.l, 0)
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)  # where the cameras look


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    c2w: np.ndarray = field(repr=False)    # 4x4 camera-to-world (OpenCV camera axes)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])


@dataclass(frozen=True)
class SyntheticParams:
    """Generator parameters (docs/synthetic.md). Sizes are (width, height) pixels."""

    views: int = 3
    difficulty: str = "easy"
    sizes: tuple[tuple[int, int], ...] = ((640, 480), (512, 384), (320, 240), (256, 192))
    focal_range: tuple[float, float] = (300.0, 1500.0)  # px, sampled log-uniformly, fx == fy
    fov_range: tuple[float, float] | None = None  # deg, horizontal FOV; when set, replaces focal_range
    pp_jitter: float = 0.03        # principal point offset, fraction of W (H), uniform +-
    camera_height: float = 1.6     # m, the fixed camera height of "easy"
    withheld: float = 0.25         # fraction of images whose intrinsics are withheld
    cov_tol: float = COVISIBILITY_TOL  # relative depth tolerance of the covisibility test (0.02)
    # Camera motion. None keeps the difficulty preset: every view at its own azimuth within
    # +-spread_deg of the scene's and its own distance. `spread_deg` narrows or widens the arc;
    # `same_distance` puts all views of a scene at one distance from the target (a true orbit:
    # the relative pose of two views is one signed azimuth step plus the aim jitter).
    spread_deg: float | None = None
    same_distance: bool = False
    # With same_distance: the views turn about a pivot on the first ray towards the target, this
    # fraction of the distance away (1: the target itself, an orbit; small: a camera panning on a
    # short arm, whose image motion is nearly one global shift). None: the orbit.
    pivot_fraction: float | None = None
    # Walls tinted by a hue wheel turning once per `compass_deg` degrees of azimuth about the scene's
    # look-at point (a visual compass: a view's heading is readable from its colours). None: neutral walls.
    compass_deg: float | None = None
    # Where the compass turns about: "target" tints the walls about the look-at point; "eye" tints
    # every room surface (floor, walls, ceiling) about the first view's eye, so that an image's colours
    # give its heading like a sky would (its mean hue minus another view's is their yaw difference).
    compass_about: str = "target"
    # How the compass tints: "wheel" turns the hue once per `compass_deg`; "ramp" shades from blue to
    # red linearly over `compass_deg` of azimuth, centred on the first view's heading (its wrap lies
    # behind that view when `compass_deg` is 360), so the difference of two views' red-minus-blue
    # levels is proportional to their yaw difference: a linear read instead of an angle between hues.
    compass_style: str = "wheel"
    # All views of a scene taken by one camera (size, focal and principal point drawn once, for the
    # first view), as a video or a moving rig gives: two views then differ by their pose alone, not
    # by a zoom between their normalised coordinates. False: every view draws its own camera.
    shared_camera: bool = False

    def __post_init__(self):
        if self.difficulty not in DIFFICULTY:
            raise ValueError(f"difficulty must be one of {sorted(DIFFICULTY)}, got {self.difficulty!r}")
        if self.views < 1:
            raise ValueError(f"views must be >= 1, got {self.views}")
        if not self.sizes or any(len(s) != 2 or min(s) < 2 for s in self.sizes):
            raise ValueError(f"sizes must be a non-empty list of (width, height) >= 2, got {self.sizes}")
        lo, hi = self.focal_range
        if not 0 < lo <= hi:
            raise ValueError(f"focal_range must satisfy 0 < lo <= hi, got {self.focal_range}")
        if self.fov_range is not None and not 0 < self.fov_range[0] <= self.fov_range[1] < 180:
            raise ValueError(f"fov_range must satisfy 0 < lo <= hi < 180 degrees, got {self.fov_range}")
        if not 0.0 <= self.withheld <= 1.0:
            raise ValueError(f"withheld must be in [0, 1], got {self.withheld}")
        if not 0.0 <= self.pp_jitter < 0.5:
            raise ValueError(f"pp_jitter must be in [0, 0.5), got {self.pp_jitter}")
        max_h = DIFFICULTY["easy"]["room_height"][0] - 0.3  # cameras stay 0.3 m below the ceiling
        if not 0 < self.camera_height < max_h:
            raise ValueError(f"camera_height must be in (0, {max_h}) m, got {self.camera_height}")
        if not 0.0 < self.cov_tol < 1.0:
            raise ValueError(f"cov_tol must be in (0, 1), got {self.cov_tol}")
        if self.spread_deg is not None and not 0.0 < self.spread_deg <= 180.0:
            raise ValueError(f"spread_deg must be in (0, 180], got {self.spread_deg}")
        if self.compass_deg is not None and not 0.0 < self.compass_deg <= 360.0:
            raise ValueError(f"compass_deg must be in (0, 360], got {self.compass_deg}")
        if self.compass_about not in COMPASS_ABOUT:
            raise ValueError(f"compass_about must be one of {COMPASS_ABOUT}, got {self.compass_about!r}")
        if self.compass_style not in COMPASS_STYLE:
            raise ValueError(f"compass_style must be one of {COMPASS_STYLE}, got {self.compass_style!r}")
        if self.pivot_fraction is not None:
            if not 0.0 < self.pivot_fraction <= 1.0:
                raise ValueError(f"pivot_fraction must be in (0, 1], got {self.pivot_fraction}")
            if not self.same_distance:
                raise ValueError("pivot_fraction needs same_distance (the pivot lies on one ray of one length)")


def look_at(eye, target, roll: float = 0.0) -> np.ndarray:
    """4x4 OpenCV camera-to-world pose at `eye` looking at `target` (world Z up), banked by
    `roll` rad (positive = clockwise in the image, i.e. the camera banks right)."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is vertical; the camera's right axis is undefined")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = math.cos(roll), math.sin(roll)
    x, y = c * x + s * y, -s * x + c * y
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], axis=1)
    T[:3, 3] = eye
    return T


def _u(rng, lo_hi) -> float:
    lo, hi = lo_hi
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


def sample_scene(rng: np.random.Generator, scene_id: str, params: SyntheticParams) -> Scene:
    """A random room with objects standing on the ground around a random region centre."""
    d = DIFFICULTY[params.difficulty]
    hx, hy, hz = _u(rng, d["room_half"]), _u(rng, d["room_half"]), _u(rng, d["room_height"])
    tones = rng.permutation(len(NEUTRALS))
    floor_a = NEUTRALS[tones[0]]
    room = Room(
        half_x=hx, half_y=hy, height=hz,
        floor=random_texture(rng, floor_a * 1.25, floor_a * 0.55, _u(rng, d["floor_cell"])),
        walls=random_texture(rng, NEUTRALS[tones[1]], NEUTRALS[tones[1]] * 0.75, rng.uniform(0.4, 1.0)),
        ceiling=random_texture(rng, NEUTRALS[tones[2]] * 1.2, NEUTRALS[tones[2]], rng.uniform(0.5, 1.2)),
    )
    ang = rng.uniform(0, 2 * np.pi)
    rad = d["target_offset"] * math.sqrt(rng.uniform())
    region = (rad * math.cos(ang), rad * math.sin(ang), _u(rng, d["target_height"]))

    n_obj = int(rng.integers(d["n_objects"][0], d["n_objects"][1] + 1))
    colors = list(PALETTE)
    color_order = rng.permutation(len(colors))
    objects: list[Obj] = []
    for k in range(n_obj):
        color = colors[color_order[k % len(colors)]]
        cat = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        if cat == "box":
            size = (rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.2))
            yaw = rng.uniform(-np.pi / 2, np.pi / 2)
        elif cat == "sphere":
            r = rng.uniform(0.15, 0.6)
            size, yaw = (2 * r, 2 * r, 2 * r), 0.0
        else:
            r = rng.uniform(0.15, 0.5)
            size, yaw = (2 * r, rng.uniform(0.4, 1.5), 2 * r), rng.uniform(-np.pi, np.pi)
        rgb = np.asarray(PALETTE[color])
        tex = random_texture(rng, rgb, rgb * 0.6, rng.uniform(0.1, 0.3), amp=0.15)
        # Rejection-sample a ground position: inside the region, the room, clear of others.
        foot = Obj("", color, cat, (0, 0, 0), tuple(map(float, size)), float(yaw), tex).footprint
        for _ in range(200):
            a, rr = rng.uniform(0, 2 * np.pi), d["region"] * math.sqrt(rng.uniform())
            x, y = region[0] + rr * math.cos(a), region[1] + rr * math.sin(a)
            inside = abs(x) + foot < hx - 0.2 and abs(y) + foot < hy - 0.2
            clear = all(math.hypot(x - o.center[0], y - o.center[1]) > foot + o.footprint + 0.1
                        for o in objects)
            if inside and clear:
                break
        else:
            continue  # no room left for this object; the scene simply has fewer
        objects.append(Obj(f"the {color} {cat}", color, cat, (x, y, 0.5 * float(size[1])),
                           tuple(map(float, size)), float(yaw), tex))
    # Every view looks at the first object (so each view shows it and views overlap), at a
    # random height within its box; a scene without objects looks at the region centre.
    if objects:
        o0 = objects[0]
        target = (o0.center[0], o0.center[1], float(rng.uniform(0.25, 1.0)) * 2 * o0.center[2])
    else:
        target = region
    el, az = rng.uniform(np.radians(35), np.radians(75)), rng.uniform(0, 2 * np.pi)
    light = (math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el))
    return Scene(scene_id, room, tuple(objects), light, 0.4, target)


def with_compass(scene: Scene, cams: list[Camera], params: SyntheticParams) -> Scene:
    """`scene` with its visual compass (`compass_deg`, `compass_about`, `compass_style`), applied once
    its cameras are drawn: "target" tints the walls about the look-at point, "eye" the floor, walls and
    ceiling about the first camera's eye; a "ramp" is centred on the first camera's heading (the
    azimuth of its optical axis). Unchanged without a compass. No random draws."""
    if params.compass_deg is None:
        return scene
    period = math.radians(params.compass_deg)
    extra = {}
    if params.compass_style == "ramp":
        fwd = cams[0].c2w[:2, 2]
        extra = {"style": "ramp", "ref": math.atan2(float(fwd[1]), float(fwd[0]))}
    room = scene.room
    if params.compass_about == "target":
        x, y = float(scene.target[0]), float(scene.target[1])
        return replace(scene, room=replace(room, walls=CompassTexture(room.walls, x, y, period, **extra)))
    x, y = (float(c) for c in cams[0].c2w[:2, 3])
    room = replace(room, floor=CompassTexture(room.floor, x, y, period, **extra),
                   walls=CompassTexture(room.walls, x, y, period, **extra),
                   ceiling=CompassTexture(room.ceiling, x, y, period, **extra))
    return replace(scene, room=room)


def sample_cameras(rng: np.random.Generator, scene: Scene, params: SyntheticParams) -> list[Camera]:
    """`params.views` cameras around the scene target, all looking into it so views overlap."""
    # An orbit (same_distance) fixes every view's distance, and a pivot its arm, by the first draws
    # below; when no free position exists on that arc, the whole set is drawn again (a scene whose
    # first draw succeeds consumes exactly the random numbers it always did).
    for _ in range(50):
        cams = _sample_views(rng, scene, params)
        if cams is not None:
            return cams
    raise RuntimeError(f"{scene.scene_id}: no free camera positions for its views in 50 draws of the arc")


def _sample_views(rng: np.random.Generator, scene: Scene, params: SyntheticParams) -> list[Camera] | None:
    d = DIFFICULTY[params.difficulty]
    room, cams = scene.room, []
    az0 = rng.uniform(0, 2 * np.pi)
    tgt = np.asarray(scene.target)
    lo_f, hi_f = np.log(params.focal_range[0]), np.log(params.focal_range[1])
    spread = d["spread_deg"] if params.spread_deg is None else params.spread_deg
    orbit_dist = rng.uniform(*d["distance"]) if params.same_distance else None
    for v in range(params.views):
        if v == 0 or not params.shared_camera:
            W, H = params.sizes[int(rng.integers(len(params.sizes)))]
            if params.fov_range is None:
                f = float(np.exp(rng.uniform(lo_f, hi_f)))
            else:  # focal from a horizontal field of view, so it scales with the image width
                fov = math.radians(rng.uniform(*params.fov_range))
                f = 0.5 * W / math.tan(0.5 * fov)
            cx = (W - 1) / 2 + rng.uniform(-1, 1) * params.pp_jitter * W
            cy = (H - 1) / 2 + rng.uniform(-1, 1) * params.pp_jitter * H
        for _ in range(500):
            turn = np.radians(rng.uniform(-spread, spread))
            dist = rng.uniform(*d["distance"]) if orbit_dist is None else orbit_dist
            h = params.camera_height if d["camera_height"] is None else _u(rng, d["camera_height"])
            if params.pivot_fraction is None:
                az = az0 + turn
                eye = np.array([tgt[0] + dist * math.cos(az), tgt[1] + dist * math.sin(az), h])
                aim = tgt - eye
            else:  # turn the first view's eye and aim about the pivot
                c, s = math.cos(turn), math.sin(turn)
                radial = dist * np.array([math.cos(az0), math.sin(az0)])  # target -> first eye
                pivot = tgt[:2] + (1.0 - params.pivot_fraction) * radial
                e = params.pivot_fraction * radial                        # pivot -> first eye
                eye = np.array([pivot[0] + c * e[0] - s * e[1], pivot[1] + s * e[0] + c * e[1], h])
                a0 = (-radial[0], -radial[1], tgt[2] - h)                 # first eye -> target
                aim = np.array([c * a0[0] - s * a0[1], s * a0[0] + c * a0[1], a0[2]])
            inside = (abs(eye[0]) < room.half_x - 0.3 and abs(eye[1]) < room.half_y - 0.3
                      and eye[2] < room.height - 0.3)
            clear = all(math.hypot(eye[0] - o.center[0], eye[1] - o.center[1]) > o.footprint + 0.3
                        or eye[2] > 2 * o.center[2] + 0.3 for o in scene.objects)
            if inside and clear:
                break
        else:
            if params.same_distance:
                return None  # this arc is blocked: the caller draws another
            raise RuntimeError(f"{scene.scene_id}: no free camera position for view {v} in 500 tries")
        # Aim at the target, turned by a small random yaw/pitch jitter (at most a quarter of the
        # half field of view, so the target stays in every view and views overlap).
        jit = min(np.radians(d["jitter_deg"]), 0.25 * math.atan(0.5 * min(W, H) / f))
        fwd = aim
        yaw_j, pitch_j = rng.uniform(-jit, jit), rng.uniform(-jit, jit)
        c, s = math.cos(yaw_j), math.sin(yaw_j)
        fwd = np.array([c * fwd[0] - s * fwd[1], s * fwd[0] + c * fwd[1], fwd[2]])
        horiz = math.hypot(fwd[0], fwd[1])
        pitch = math.atan2(fwd[2], horiz) + pitch_j
        fwd = np.array([fwd[0] / horiz * math.cos(pitch), fwd[1] / horiz * math.cos(pitch), math.sin(pitch)])
        roll = np.radians(rng.uniform(-d["roll_deg"], d["roll_deg"]))
        cams.append(Camera(int(W), int(H), f, f, float(cx), float(cy), look_at(eye, eye + fwd, roll)))
    return cams
