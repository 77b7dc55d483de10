"""Where a model comes from: a local `save_pretrained` folder or a Hugging Face hub id.

`--model` of `vlm3.train` and `vlm3.predict` accepts either
- a local folder holding `config.json` (`vlm3.model.build` / `vlm3.train` output, or a downloaded
  snapshot), or
- a hub id `org/name` (e.g. the paper's `Qwen/Qwen3-VL-4B-Instruct`) that is not an existing path;
  `from_pretrained` then resolves it through the Hugging Face cache (set `HF_HOME`, and
  `HF_HUB_OFFLINE=1` on nodes without internet, docs/cluster.md).
Anything else is a `ValueError` naming the argument.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

# Hub repo ids: "org/name", letters, digits, '-', '_', '.'; no leading '.', no '..' (huggingface_hub's rules).
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def model_source(path: str, flag: str = "--model") -> str:
    """'local' for a folder with config.json, 'hub' for an `org/name` hub id; ValueError otherwise."""
    p = Path(path)
    if p.exists():
        if (p / "config.json").is_file():
            return "local"
        raise ValueError(f"{flag} {path}: not a save_pretrained folder (config.json missing)")
    if _HUB_ID.match(path) and ".." not in path:
        return "hub"
    raise ValueError(f"{flag} {path}: not a save_pretrained folder (config.json missing) "
                     "and not a Hugging Face hub id of the form org/name")


def auto_processor(name: str):
    """`AutoProcessor.from_pretrained(name)`. Qwen3-VL's AutoProcessor builds a video processor that
    needs torchvision; where torchvision is missing (envs/train.yaml does not ship it) the image-only
    processor (`vlm3.model.processor.ImageOnlyQwen3VLProcessor`, same tokenizer, image processor and
    chat template) is loaded from the same files instead, with a warning."""
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(name)
    except ImportError as e:
        from vlm3.model.processor import ImageOnlyQwen3VLProcessor

        log.warning("AutoProcessor(%s) unavailable (%s); using the image-only Qwen3-VL processor", name, e)
        return ImageOnlyQwen3VLProcessor.from_pretrained(name)
