"""Test helper: render an axis-aligned room (floor + two walls with grid lines, and a box) with
a known pinhole camera, using OpenCV line drawing. Used by the calibration and resize tests."""

import math

import cv2
import numpy as np


def rot(yaw_deg, pitch_deg, roll_deg=0.0):
    """World-to-camera rotation; world: X right, Y down, Z forward (OpenCV), camera yawed
    (about Y), then pitched (about X), then rolled (about Z)."""
    y, p, r = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    Ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    Rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    Rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    c2w = Ry @ Rx @ Rz
    return c2w.T


def room_segments(size=8.0, step=0.5, height=3.0):
    """3D segments (M, 2, 3): floor grid at y = +1.5 (floor below the camera), back wall at
    z = size, left wall at x = -size/2, and a 1 m box on the floor."""
    segs = []
    half = size / 2
    fy = 1.5
    for t in np.arange(-half, half + 1e-9, step):
        segs.append([[t, fy, 0.5], [t, fy, size]])          # floor lines along Z
    for z in np.arange(0.5, size + 1e-9, step):
        segs.append([[-half, fy, z], [half, fy, z]])        # floor lines along X
    for t in np.arange(-half, half + 1e-9, step):
        segs.append([[t, fy, size], [t, fy - height, size]])  # back wall verticals
    for y in np.arange(fy - height, fy + 1e-9, step):
        segs.append([[-half, y, size], [half, y, size]])    # back wall horizontals
    for z in np.arange(0.5, size + 1e-9, step):
        segs.append([[-half, fy, z], [-half, fy - height, z]])  # left wall verticals
    for y in np.arange(fy - height, fy + 1e-9, step):
        segs.append([[-half, y, 0.5], [-half, y, size]])    # left wall along Z
    x0, z0 = 0.8, 4.0
    c = [[x0 + dx, fy - dy, z0 + dz] for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)]
    for a, b in [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)]:
        segs.append([c[a], c[b]])
    return np.array(segs, float)


def _clip(a, b, width, height, margin=2.0):
    """Liang-Barsky clip of segment a-b to the image rectangle (plus a margin), in float, so
    OpenCV never sees huge fixed-point coordinates (its own clipping loses precision there)."""
    d = b - a
    t0, t1 = 0.0, 1.0
    for p, q in ((-d[0], a[0] + margin), (d[0], width - 1 + margin - a[0]),
                 (-d[1], a[1] + margin), (d[1], height - 1 + margin - a[1])):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return a + t0 * d, a + t1 * d


def render_room(K, R, t, width, height, seed=0, noise=4.0):
    """RGB uint8 image of the room seen by x_cam = R @ x_world + t."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 150, np.float32) + rng.normal(0, noise, (height, width))
    img = np.clip(img, 0, 255).astype(np.uint8)
    shift = 4  # sub-pixel line endpoints (OpenCV fixed point)
    for a, b in room_segments():
        pa, pb = R @ a + t, R @ b + t
        near = 0.2
        if pa[2] < near and pb[2] < near:
            continue
        if pa[2] < near or pb[2] < near:  # clip to the near plane
            s = (near - pa[2]) / (pb[2] - pa[2])
            q = pa + s * (pb - pa)
            pa, pb = (q, pb) if pa[2] < near else (pa, q)
        ua = K @ (pa / pa[2])
        ub = K @ (pb / pb[2])
        seg = _clip(ua[:2], ub[:2], width, height)
        if seg is None:
            continue
        p, q = seg
        cv2.line(img, tuple(int(round(v * 16)) for v in p), tuple(int(round(v * 16)) for v in q),
                 30, 1, cv2.LINE_AA, shift)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
