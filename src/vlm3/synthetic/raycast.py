"""Vectorised numpy ray caster: analytic ray-primitive intersections, solid textures, Lambert.

One ray per pixel centre (pixel convention of docs/CONTRACTS.md). Rays are kept unnormalised with
camera-frame direction ((u - cx) / fx, (v - cy) / fy, 1), so the ray parameter t of a hit IS the
camera z depth of that hit (metres). Written by hand because no numpy-only renderer exists and the
analytic intersections are a few lines each; objects are tested only inside a conservative
screen-space rectangle of their bounding sphere, which keeps cluttered scenes fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vlm3.synthetic.scene import Camera, Obj, Scene

ROOM_ID = 0  # instance id of the room (floor, walls, ceiling); objects are 1..n in scene order


@dataclass
class Render:
    rgb: np.ndarray        # (H, W, 3) uint8, RGB
    depth: np.ndarray      # (H, W) float32, camera z in metres; 0 = invalid (never happens indoors)
    instance: np.ndarray   # (H, W) uint8, 0 = room, k = scene.objects[k - 1]
    hit_px: np.ndarray     # (n_objects,) int64: pixels whose ray hits object k at all (unoccluded count)


def _rays(cam: Camera):
    """Origin (3,) and world ray directions Dx, Dy, Dz (H, W) with camera z component 1."""
    x = (np.arange(cam.width, dtype=np.float64) - cam.cx) / cam.fx
    y = (np.arange(cam.height, dtype=np.float64) - cam.cy) / cam.fy
    R = cam.c2w[:3, :3]
    D = [R[k, 0] * x[None, :] + R[k, 1] * y[:, None] + R[k, 2] for k in range(3)]
    return cam.c2w[:3, 3].astype(np.float64), D


def _intersect_room(o, D, room):
    """t (H, W) of the exit through the room box, and the face hit: 0 floor, 1 ceiling, 2 x-wall, 3 y-wall."""
    hi = (room.half_x, room.half_y, room.height)
    lo = (-room.half_x, -room.half_y, 0.0)
    # Inside the box the exit along each axis is the larger of the two slab distances
    # (+inf for rays parallel to the slab, since o lies strictly between its planes).
    tx, ty, tz = (np.maximum((hi[k] - o[k]) / D[k], (lo[k] - o[k]) / D[k]) for k in range(3))
    t = np.minimum(np.minimum(tx, ty), tz)
    face = np.where(tz <= np.minimum(tx, ty), np.where(D[2] < 0, 0, 1), np.where(tx <= ty, 2, 3))
    return t, face


def _intersect_object(o, D, obj: Obj):
    """t of the first hit of rays (o, D) with `obj` (inf where missed or behind the camera)."""
    c = np.asarray(obj.center)
    oc = o - c
    w, h, l = obj.size
    if obj.category == "box":
        R = obj.R_obj_to_world
        ol = R.T @ oc
        dl = [R[0, k] * D[0] + R[1, k] * D[1] + R[2, k] * D[2] for k in range(3)]
        half = (w / 2, h / 2, l / 2)
        near, far = -np.inf, np.inf
        for k in range(3):
            t1 = (-half[k] - ol[k]) / dl[k]
            t2 = (half[k] - ol[k]) / dl[k]
            near = np.maximum(near, np.minimum(t1, t2))
            far = np.minimum(far, np.maximum(t1, t2))
        return np.where((near <= far) & (near > 0), near, np.inf)
    if obj.category == "sphere":
        r = w / 2
        a = D[0] * D[0] + D[1] * D[1] + D[2] * D[2]
        b = D[0] * oc[0] + D[1] * oc[1] + D[2] * oc[2]
        disc = b * b - a * (oc @ oc - r * r)
        t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        return np.where((disc >= 0) & (t > 0), t, np.inf)
    if obj.category == "cylinder":
        r, z0, z1 = w / 2, c[2] - h / 2, c[2] + h / 2
        a = D[0] * D[0] + D[1] * D[1]
        b = D[0] * oc[0] + D[1] * oc[1]
        disc = b * b - a * (oc[0] ** 2 + oc[1] ** 2 - r * r)
        t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        z = o[2] + t_side * D[2]
        t = np.where((disc >= 0) & (t_side > 0) & (z >= z0) & (z <= z1), t_side, np.inf)
        for zc in (z0, z1):
            tc = (zc - o[2]) / D[2]
            xc, yc = oc[0] + tc * D[0], oc[1] + tc * D[1]
            ok = (tc > 0) & (xc * xc + yc * yc <= r * r)
            t = np.where(ok & (tc < t), tc, t)
        return t
    raise ValueError(f"unknown object category {obj.category!r}")


def _screen_rect(cam: Camera, obj: Obj):
    """Conservative pixel rectangle (v0, v1, u0, u1) containing the object's projection."""
    c2w = cam.c2w
    pc = c2w[:3, :3].T @ (np.asarray(obj.center) - c2w[:3, 3])
    rad = 0.5 * float(np.linalg.norm(obj.size)) + 1e-6
    if pc[2] - rad <= 1e-3:
        return 0, cam.height, 0, cam.width  # object reaches behind the camera: test every pixel
    corners = pc + rad * np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
    u = cam.fx * corners[:, 0] / corners[:, 2] + cam.cx
    v = cam.fy * corners[:, 1] / corners[:, 2] + cam.cy
    u0, u1 = max(0, math.floor(u.min())), min(cam.width, math.ceil(u.max()) + 1)
    v0, v1 = max(0, math.floor(v.min())), min(cam.height, math.ceil(v.max()) + 1)
    return v0, max(v0, v1), u0, max(u0, u1)


def render(scene: Scene, cam: Camera) -> Render:
    """Ray-cast `scene` from `cam`: RGB, camera-z depth, instance ids and per-object hit counts."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        o, D = _rays(cam)
        t, face = _intersect_room(o, D, scene.room)
        inst = np.zeros(t.shape, np.uint8)
        hit_px = np.zeros(len(scene.objects), np.int64)
        for k, obj in enumerate(scene.objects, start=1):
            v0, v1, u0, u1 = _screen_rect(cam, obj)
            if v1 <= v0 or u1 <= u0:
                continue
            sl = (slice(v0, v1), slice(u0, u1))
            tk = _intersect_object(o, [d[sl] for d in D], obj)
            hit_px[k - 1] = int(np.isfinite(tk).sum())
            closer = tk < t[sl]
            t[sl] = np.where(closer, tk, t[sl])
            inst[sl] = np.where(closer, np.uint8(k), inst[sl])
        rgb = _shade(scene, o, D, t, face, inst)
    depth = np.where(np.isfinite(t) & (t > 0), t, 0.0).astype(np.float32)
    return Render(rgb, depth, inst, hit_px)


def _shade(scene: Scene, o, D, t, face, inst) -> np.ndarray:
    """Lambertian shading of the visible surface of every pixel: (H, W, 3) uint8.

    Works in float32 (colours and texture coordinates need no more precision) on pixels grouped
    by surface: key 0-3 = room face (floor, ceiling, x-wall, y-wall), 4 + k = object k.
    """
    H, W = t.shape
    tf = np.where(np.isfinite(t), t, 0.0).astype(np.float32).reshape(-1)
    P = np.empty((H * W, 3), np.float32)
    for k in range(3):
        P[:, k] = np.float32(o[k]) + tf * D[k].astype(np.float32).reshape(-1)
    key = np.where(inst == 0, face, 3 + inst.astype(np.int64)).reshape(-1)
    order = np.argsort(key, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(key, minlength=4 + len(scene.objects)))])
    albedo = np.zeros((H * W, 3), np.float32)
    normal = np.zeros((H * W, 3), np.float32)
    room = scene.room
    for fid, tex in enumerate((room.floor, room.ceiling, room.walls, room.walls)):
        idx = order[bounds[fid]:bounds[fid + 1]]
        if idx.size == 0:
            continue
        albedo[idx] = tex.albedo(P[idx])
        if fid < 2:
            normal[idx, 2] = 1.0 if fid == 0 else -1.0
        else:
            ax = fid - 2  # the wall at +half faces -axis, the wall at -half faces +axis
            normal[idx, ax] = -np.sign(P[idx, ax])
    for k, obj in enumerate(scene.objects, start=1):
        idx = order[bounds[3 + k]:bounds[4 + k]]
        if idx.size == 0:
            continue
        R = obj.R_obj_to_world.astype(np.float32)
        rel = P[idx] - np.asarray(obj.center, np.float32)
        pl = rel @ R  # object-frame coordinates
        albedo[idx] = obj.texture.albedo(pl)
        if obj.category == "box":
            half = 0.5 * np.asarray(obj.size, np.float32)
            ax = np.argmax(np.abs(pl) / half, axis=1)
            nl = np.zeros_like(pl)
            rows = np.arange(idx.size)
            nl[rows, ax] = np.sign(pl[rows, ax])
            normal[idx] = nl @ R.T
        elif obj.category == "sphere":
            normal[idx] = rel / np.float32(obj.size[0] / 2)
        else:  # vertical cylinder: caps where |local y| reaches h/2, else radial
            cap = np.abs(pl[:, 1]) >= obj.size[1] / 2 - 1e-4
            rel[:, 2] = 0.0
            rel /= np.maximum(np.linalg.norm(rel, axis=1, keepdims=True), np.float32(1e-12))
            rel[cap] = [0.0, 0.0, 1.0]
            rel[cap & (pl[:, 1] > 0)] = [0.0, 0.0, -1.0]
            normal[idx] = rel
    lam = np.maximum(normal @ np.asarray(scene.light_dir, np.float32), np.float32(0.0))
    shade = np.float32(scene.ambient) + np.float32(1.0 - scene.ambient) * lam
    rgb = albedo * (shade * np.float32(255.0))[:, None] + np.float32(0.5)
    return np.clip(rgb, 0.0, 255.0).astype(np.uint8).reshape(H, W, 3)
