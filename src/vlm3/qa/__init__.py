"""Question/answer formats, answer parsers and QA generation for the four VLM3 tasks.

- `templates`: every prompt and answer string (the released VLM3 formats plus our paraphrases).
- `parse`: `PARSERS[kind](text)` / `parse(kind, text)` read model answers back into numbers.
- `depth`, `objects`, `correspondence`, `pose`: build chat records from a resized folder.
- `build` (CLI `python -m vlm3.qa.build`), `mix` (CLI `python -m vlm3.qa.mix`).
"""
