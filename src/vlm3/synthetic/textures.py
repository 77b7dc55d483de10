"""Colour palette and solid (3D) procedural textures.

A texture is a function of a surface point's coordinates in the surface's own frame (world frame
for the room, object frame for objects), so a surface point has the same albedo in every view:
correspondence is solvable by eye. It is a two-tone 3D checker (cell `cell` metres, grid shifted by
`offset` so planes never lie on a cell boundary) modulated by a few random sinusoids (wavelengths
0.1-0.8 m) that break the checker's periodicity. Albedo is linear RGB in [0, 1].

Written by hand because no library offers cheap vectorised solid textures on arbitrary points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Object colours: name -> RGB in [0, 1]. Names are what questions use ("the red box").
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.10, 0.10),
    "green": (0.12, 0.62, 0.16),
    "blue": (0.12, 0.25, 0.82),
    "yellow": (0.90, 0.80, 0.10),
    "orange": (0.92, 0.48, 0.08),
    "purple": (0.48, 0.16, 0.64),
    "cyan": (0.10, 0.75, 0.80),
    "pink": (0.92, 0.45, 0.68),
    "white": (0.93, 0.93, 0.93),
    "black": (0.08, 0.08, 0.08),
}

# Neutral tones for the room (floor, walls, ceiling) so objects stand out.
NEUTRALS = np.array([
    [0.55, 0.55, 0.55], [0.62, 0.52, 0.40], [0.45, 0.40, 0.35], [0.70, 0.68, 0.62],
    [0.50, 0.55, 0.58], [0.60, 0.58, 0.50],
])


@dataclass(frozen=True)
class Texture:
    """Two-tone 3D checker times (1 + amp * mean of sinusoids). Units: metres, radians."""

    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    cell: float                                  # checker cell size, m
    offset: tuple[float, float, float]           # checker grid shift, m
    waves: tuple[tuple[float, float, float], ...]  # wave vectors, rad/m
    phases: tuple[float, ...]
    amp: float

    def albedo(self, p: np.ndarray) -> np.ndarray:
        """Albedo (M, 3) float32 of points `p` (M, 3) given in the surface's own frame."""
        # float32 and per-column arithmetic: numpy's axis-1 reductions over 3 columns are slow.
        cols = [np.ascontiguousarray(p[:, k], dtype=np.float32) for k in range(3)]
        inv = np.float32(1.0 / self.cell)
        q = sum(np.floor((c + np.float32(o)) * inv) for c, o in zip(cols, self.offset))
        checker = np.mod(q, np.float32(2.0))
        mod = np.zeros_like(cols[0])
        for (wx, wy, wz), ph in zip(self.waves, self.phases):
            mod += np.sin(np.float32(wx) * cols[0] + np.float32(wy) * cols[1]
                          + np.float32(wz) * cols[2] + np.float32(ph))
        mod = mod * np.float32(self.amp / len(self.phases)) + np.float32(1.0)
        out = np.empty((p.shape[0], 3), np.float32)
        for k in range(3):
            a, b = np.float32(self.color_a[k]), np.float32(self.color_b[k])
            out[:, k] = (a + (b - a) * checker) * mod
        return out


def random_texture(rng: np.random.Generator, color_a, color_b, cell: float,
                   n_waves: int = 3, amp: float = 0.25) -> Texture:
    """A texture with the given tones and cell size; offsets and sinusoids drawn from `rng`."""
    offset = rng.uniform(0.1, 0.9, 3) * cell
    dirs = rng.normal(size=(n_waves, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    wavelength = rng.uniform(0.1, 0.8, n_waves)
    waves = dirs * (2 * np.pi / wavelength)[:, None]
    phases = rng.uniform(0, 2 * np.pi, n_waves)
    return Texture(
        color_a=tuple(float(c) for c in color_a), color_b=tuple(float(c) for c in color_b),
        cell=float(cell), offset=tuple(float(o) for o in offset),
        waves=tuple(tuple(float(x) for x in w) for w in waves),
        phases=tuple(float(x) for x in phases), amp=float(amp),
    )


@dataclass(frozen=True)
class CompassTexture:
    """A texture whose colour turns with the azimuth about a vertical axis: a visual compass.

    The albedo is `base`'s brightness pattern (its checker and sinusoids, as grey levels) tinted by
    the azimuth of the point about (cx, cy), so a wall point's colour says in which direction it lies
    from the axis, as the sun or a landmark would, and a view's heading is readable from its colours
    alone (docs/synthetic.md, `compass_deg`, `compass_style`). Two tints:
    - "wheel": a hue wheel making one full turn per `period` radians of azimuth (a heading is an angle
      of the three channels; two views' yaw difference is the angle between their mean hues);
    - "ramp": a red-to-blue ramp, linear in the azimuth over one `period` centred on `ref` (a sawtooth
      beyond it): the red minus blue level is 0 at `ref` and +-1 half a period either side, so two
      views' yaw difference is proportional to the difference of their mean red-minus-blue levels."""

    base: Texture
    cx: float
    cy: float
    period: float          # rad of azimuth per hue turn ("wheel") or per ramp ("ramp")
    saturation: float = 0.8
    style: str = "wheel"
    ref: float = 0.0       # rad: the azimuth at the ramp's middle ("ramp" only)

    def albedo(self, p: np.ndarray) -> np.ndarray:
        grey = self.base.albedo(p).mean(axis=1)
        az = np.arctan2(p[:, 1].astype(np.float32) - np.float32(self.cy),
                        p[:, 0].astype(np.float32) - np.float32(self.cx))
        s = np.float32(self.saturation)
        out = np.empty((p.shape[0], 3), np.float32)
        if self.style == "ramp":
            u = (az - np.float32(self.ref)) / np.float32(self.period) + np.float32(0.5)
            t = np.float32(2.0) * (u - np.floor(u)) - np.float32(1.0)    # in [-1, 1), 0 at `ref`
            half = np.float32(0.5)
            wheels = (half + half * t, np.full_like(t, half), half - half * t)
        else:  # a smooth hue wheel: channel k peaks at hue 2 pi k / 3
            hue = az * np.float32(2.0 * np.pi / self.period)
            wheels = tuple(np.float32(0.5) + np.float32(0.5) * np.cos(hue - np.float32(2.0 * np.pi * k / 3.0))
                           for k in range(3))
        for k in range(3):
            out[:, k] = grey * (np.float32(1.0) - s + s * np.float32(1.6) * wheels[k])
        return out
