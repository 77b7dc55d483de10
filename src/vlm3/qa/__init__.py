"""Question/answer formats, answer parsers and QA generation for the four VLM3 tasks.

- `templates`: every prompt and answer string (the released VLM3 formats plus our paraphrases).
- `parse`: `PARSERS[kind](text)` / `parse(kind, text)` read model answers back into numbers.
- `resized`: reading a resize-stage folder; `depth`, `objects`, `correspondence`, `pose`: records.
- `build` (CLI `python -m vlm3.qa.build`), `mix` (CLI `python -m vlm3.qa.mix`).

Targets (`meta.targets[i]`, one per assistant turn; `value` is the exact, unrounded truth):
- depth:          {"kind": "depth", "value": m, "pixel": [u, v] (resized px), "pixel_norm": [xn, yn] ([0, 2000))}
                  record meta: "image_ids", "depth_kind" ("z" or "ray": what the value measures)
- object:         {"kind": "distance" | "clock" | "yesno" | "choice", "value": m | hour | bool | region index,
                   "category": SpatialRGPT category, "type": "quantitative" | "qualitative",
                   "boxes": [[x1, y1, x2, y2], ...] ([0, 1000] ints, region order), "objects": [names]}
- correspondence: {"kind": "point" (answer names the point) or "offset" (its shift from the query),
                   "value": [x2n, y2n] ([0, 1000] of image 2) for both kinds, "scale": 1000,
                   "query": [x1n, y1n], "pixel_1": [u1, v1] (int px), "pixel_2": [u2, v2] (float px),
                   "image_size_2": [W2, H2]}; record meta: "image_ids", "covisibility"
- pose:           rotation_angle {"value": deg}, euler {"value": [yaw, pitch, roll] deg},
                  direction {"value": unit [x, y, z] in camera 1, "words": "left, forward"},
                  distance {"value": m}; record meta: "image_ids", "covisibility", "T_12" (16 floats)
"""
