"""QA records as training examples: a map-style dataset and a collator with answer-only labels.

A record (docs/CONTRACTS.md, "QA") is one multi-turn chat over its images; it becomes one training
sequence. The collator renders it with the chat template (`vlm3.model.processor.render_segments`),
expands each image placeholder to the number of visual tokens the image processor gives, and sets
`labels` to -100 everywhere except on assistant answer tokens and their closing `<|im_end|>`.
Batches are right-padded (training). The output has everything `Qwen3VLForConditionalGeneration`
needs: input_ids, attention_mask, mm_token_type_ids (0 text, 1 image), pixel_values,
image_grid_thw, labels.

The collator is a plain callable, so a packing collator can replace it without touching the
trainer (`vlm3.train.trainer.train(..., collator=...)`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from vlm3.model.processor import render_segments
from vlm3.utils import read_jsonl

IGNORE = -100


def read_qa(path: str | Path, need_targets: bool = False) -> list[dict]:
    """Read a QA jsonl file; ValueError naming the file and line on malformed records.
    `need_targets`: every record must have one meta.targets entry per user turn (evaluation)."""
    records = []
    for n, rec in read_jsonl(path, "QA file"):
        for key in ("id", "images", "messages"):
            if key not in rec:
                raise ValueError(f"QA file {path}:{n}: record lacks {key!r}")
        if not isinstance(rec["messages"], list) or not all(
                isinstance(m, dict) and "role" in m and "content" in m for m in rec["messages"]):
            raise ValueError(f"QA file {path}:{n}: messages must be a list of {{role, content}} objects")
        if not isinstance(rec["images"], list):
            raise ValueError(f"QA file {path}:{n}: images must be a list of paths")
        if need_targets:
            targets = (rec.get("meta") or {}).get("targets")
            users = sum(m["role"] == "user" for m in rec["messages"])
            if not isinstance(targets, list) or len(targets) != users:
                raise ValueError(f"QA file {path}:{n}: {users} user turns but "
                                 f"{len(targets) if isinstance(targets, list) else 'no'} meta.targets")
        n_img = sum(
            1 for m in rec["messages"] if isinstance(m["content"], list)
            for item in m["content"] if isinstance(item, dict) and item.get("type") == "image"
        )
        if n_img != len(rec["images"]):
            raise ValueError(f"QA file {path}:{n}: {n_img} image items but {len(rec['images'])} image paths")
        records.append(rec)
    if not records:
        raise ValueError(f"QA file {path}: no QA records")
    return records


def split_turns(rec: dict) -> list[dict]:
    """A multi-turn record as one single-turn record per question, each with the record's images
    before its question: exactly the conversation `vlm3.predict` asks at evaluation. Used when a
    record's turns differ in kind (pose: angle, yaw/pitch/roll, direction, distance), where a model
    trained on the whole chat only ever saw turn k after turns 0..k-1 and answers a lone later
    question with the wrong turn's format."""
    msgs = rec["messages"]
    if len(msgs) <= 2:
        return [rec]
    images = [item for item in msgs[0]["content"] if isinstance(item, dict) and item.get("type") == "image"]
    targets = rec.get("meta", {}).get("targets")
    out = []
    for k in range(0, len(msgs), 2):
        user, answer = msgs[k], msgs[k + 1]
        if user["role"] != "user" or answer["role"] != "assistant":
            raise ValueError(f"record {rec['id']}: messages must alternate user/assistant, got "
                             f"{user['role']!r}, {answer['role']!r} at {k}")
        texts = [item for item in user["content"] if not (isinstance(item, dict) and item.get("type") == "image")]
        one = {**rec, "id": f"{rec['id']}#{k // 2}", "messages": [{"role": "user", "content": images + texts}, answer]}
        if targets is not None:
            one["meta"] = {**rec["meta"], "targets": [targets[k // 2]]}
        out.append(one)
    return out


class QADataset(Dataset):
    """The records of one or more QA jsonl files, in file order (the trainer shuffles);
    `single_turn` expands every record into one record per question (`split_turns`)."""

    def __init__(self, paths: str | Path | list[str | Path], single_turn: bool = False):
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        self.records = [rec for p in paths for rec in read_qa(p)]
        if single_turn:
            self.records = [one for rec in self.records for one in split_turns(rec)]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        return self.records[i]


def load_images(paths: list[str], root: str | Path = ".") -> list[Image.Image]:
    """Open images as RGB; relative paths are taken from `root` (the repository root)."""
    out = []
    for p in paths:
        full = Path(root) / p
        if not full.exists():
            raise ValueError(f"image {p}: file not found (looked at {full})")
        with Image.open(full) as im:
            out.append(im.convert("RGB"))
    return out


class QACollator:
    """Turn a list of QA records into a padded model batch with answer-only labels."""

    def __init__(self, processor, image_root: str | Path = ".", max_length: int | None = None):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.image_processor = processor.image_processor
        self.image_token = processor.image_token
        self.image_token_id = processor.image_token_id
        self.pad_id = self.tokenizer.pad_token_id
        self.merge = self.image_processor.merge_size
        self.image_root = image_root
        self.max_length = max_length
        self._cache: dict[str, list[int]] = {}

    def _encode(self, text: str) -> list[int]:
        # Segments repeat a lot (role headers, question templates): memoise their ids.
        ids = self._cache.get(text)
        if ids is None:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(self._cache) < 100_000:
                self._cache[text] = ids
        return ids

    def encode_record(self, rec: dict, n_visual: list[int]) -> tuple[list[int], list[int]]:
        """(input_ids, labels) of one record given the visual token count of each of its images."""
        ids: list[int] = []
        labels: list[int] = []
        img = iter(n_visual)
        for text, is_answer in render_segments(rec["messages"]):
            pieces = text.split(self.image_token)
            for k, piece in enumerate(pieces):
                if k > 0:
                    n = next(img)
                    ids.extend([self.image_token_id] * n)
                    labels.extend([IGNORE] * n)
                if piece:
                    seg = self._encode(piece)
                    ids.extend(seg)
                    labels.extend(seg if is_answer else [IGNORE] * len(seg))
        if self.max_length is not None and len(ids) > self.max_length:
            raise ValueError(f"record {rec['id']}: {len(ids)} tokens exceed max_length {self.max_length}")
        return ids, labels

    def __call__(self, records: list[dict]) -> dict[str, torch.Tensor]:
        images = [im for rec in records for im in load_images(rec["images"], self.image_root)]
        vision = self.image_processor(images=images, return_tensors="pt") if images else {}
        grid = vision["image_grid_thw"] if images else torch.zeros(0, 3, dtype=torch.long)
        n_visual = (grid.prod(-1) // self.merge**2).tolist()
        seqs, k = [], 0
        for rec in records:
            m = len(rec["images"])
            seqs.append(self.encode_record(rec, n_visual[k:k + m]))
            k += m
        length = max(len(s[0]) for s in seqs)
        input_ids = torch.full((len(seqs), length), self.pad_id, dtype=torch.long)
        labels = torch.full((len(seqs), length), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(seqs), length), dtype=torch.long)
        for b, (ids, lab) in enumerate(seqs):
            input_ids[b, : len(ids)] = torch.tensor(ids)
            labels[b, : len(lab)] = torch.tensor(lab)
            attention[b, : len(ids)] = 1
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "mm_token_type_ids": (input_ids == self.image_token_id).long(),
            "labels": labels,
        }
        if images:
            batch["pixel_values"] = vision["pixel_values"]
            batch["image_grid_thw"] = grid
        return batch
