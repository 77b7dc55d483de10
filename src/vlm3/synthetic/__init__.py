"""The synthetic 3D benchmark: procedural scenes ray-cast in numpy (see docs/synthetic.md).

- `scene`: scene and camera data classes, procedural sampling (`sample_scene`, `sample_cameras`).
- `textures`: colour palette and solid (3D) procedural textures.
- `raycast`: analytic ray-primitive intersections and the renderer (`render`).
- `generate`: the `python -m vlm3.synthetic.generate` CLI writing a raw split folder.

World frame: metres, Z up (gravity along -Z), ground plane z = 0. Cameras: OpenCV axes.
"""
