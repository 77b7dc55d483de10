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

Shared prefix (`QACollator(shared_prefix=True)`, train `--shared-prefix`, packing only): a record's
questions are trained as the single-turn conversations `vlm3.predict` asks (`split_turns`), but
their common token prefix (chat header, the images, any common question words) is stored once.
The record becomes one row "prefix + branch 0 + branch 1 + ..." whose `text_position_ids` restart
at the prefix length for every branch; `vlm3.train.packing` gives each branch the mRoPE positions
of its single-turn conversation and lets it attend to the prefix and itself only. So the losses
are those of the single-turn samples (a test compares them) at the cost of one image encoding and
one prefix per record, and no question sees another's answer (a multi-turn chat would let later
turns read earlier answers, which evaluation never shows).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from vlm3.model.processor import render_segments
from vlm3.records import read_qa

IGNORE = -100


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


def group_by_images(records: list[dict]) -> list[dict]:
    """Merge the records that ask about the same images (object QA writes one record per
    question) into one multi-turn record each, in order of first appearance, so a shared-prefix
    sample encodes those images once for all their questions. Turns keep their order. A record
    the mixture drew k times goes into k different merged records (its i-th copy into the i-th
    record of those images), so repeats stay separate samples, as they would unmerged."""
    merged: dict[tuple, dict] = {}
    copies: dict[str, int] = {}
    for rec in records:
        n = copies[rec["id"]] = copies.get(rec["id"], -1) + 1
        key = (tuple(rec["images"]), n)
        into = merged.get(key)
        if into is None:  # a copy: the dataset's own records stay as read
            merged[key] = {**rec, "messages": list(rec["messages"]),
                           "meta": {**rec.get("meta", {}), "targets": list(rec.get("meta", {}).get("targets", []))}}
            continue
        for m in rec["messages"]:
            content = m["content"]
            if isinstance(content, list):
                content = [c for c in content if not (isinstance(c, dict) and c.get("type") == "image")]
            into["messages"].append({**m, "content": content})
        into["meta"]["targets"].extend(rec.get("meta", {}).get("targets", []))
    return list(merged.values())


class QADataset(Dataset):
    """The records of one or more QA jsonl files, in file order (the trainer shuffles);
    `single_turn` expands every record into one record per question (`split_turns`);
    `shared_prefix` merges the records of the same images into one (`group_by_images`)."""

    def __init__(self, paths: str | Path | list[str | Path], single_turn: bool = False,
                 shared_prefix: bool = False):
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        self.records = [rec for p in paths for rec in read_qa(p, "QA file", need_targets=False)]
        if single_turn:
            self.records = [one for rec in self.records for one in split_turns(rec)]
        if shared_prefix:
            self.records = group_by_images(self.records)

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

    def __init__(self, processor, image_root: str | Path = ".", max_length: int | None = None,
                 shared_prefix: bool = False):
        self.shared_prefix = shared_prefix
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

    def _encode_all(self, texts: list[str]) -> dict[str, list[int]]:
        """Token ids of each text. Segments repeat a lot (role headers, question templates): they
        come from a memo; the rest (a correspondence record's ~20 new question texts) go through one
        batched tokenizer call, the same ids as one call per text without its ~0.2 ms of Python
        overhead each."""
        out = {t: self._cache[t] for t in texts if t in self._cache}
        miss = list(dict.fromkeys(t for t in texts if t not in out))
        if miss:
            for t, ids in zip(miss, self.tokenizer(miss, add_special_tokens=False)["input_ids"]):
                out[t] = ids
                if len(self._cache) < 100_000:
                    self._cache[t] = ids
        return out

    def _segments(self, rec: dict) -> list[tuple[str | None, bool]]:
        """A record's text pieces in order, each with whether it is answer text; None where an
        image's visual tokens go."""
        out: list[tuple[str | None, bool]] = []
        for text, is_answer in render_segments(rec["messages"]):
            for k, piece in enumerate(text.split(self.image_token)):
                if k > 0:
                    out.append((None, False))
                if piece:
                    out.append((piece, is_answer))
        return out

    def _build(self, rec: dict, segments: list, n_visual: list[int], ids_of: dict) -> tuple[list[int], list[int]]:
        ids: list[int] = []
        labels: list[int] = []
        img = iter(n_visual)
        for piece, is_answer in segments:
            if piece is None:
                n = next(img)
                ids.extend([self.image_token_id] * n)
                labels.extend([IGNORE] * n)
            else:
                seg = ids_of[piece]
                ids.extend(seg)
                labels.extend(seg if is_answer else [IGNORE] * len(seg))
        if self.max_length is not None and len(ids) > self.max_length:
            raise ValueError(f"record {rec['id']}: {len(ids)} tokens exceed max_length {self.max_length}")
        return ids, labels

    def encode_record(self, rec: dict, n_visual: list[int]) -> tuple[list[int], list[int]]:
        """(input_ids, labels) of one record given the visual token count of each of its images."""
        segments = self._segments(rec)
        return self._build(rec, segments, n_visual, self._encode_all([p for p, _ in segments if p is not None]))

    def encode_tree(self, rec: dict, n_visual: list[int]) -> tuple[list[int], list[int], list[int]]:
        """(input_ids, labels, text positions) of a record as a shared prefix plus one branch per
        question (module docstring). The prefix is the branches' longest common token prefix,
        ended before the first answer token so every branch starts unlabelled (the token before a
        branch belongs to the previous branch, which must never be asked to predict a label)."""
        turns = split_turns(rec)
        segments = [self._segments(one) for one in turns]
        ids_of = self._encode_all([p for segs in segments for p, _ in segs if p is not None])
        branches = [self._build(one, segs, n_visual, ids_of) for one, segs in zip(turns, segments)]
        if len(branches) == 1:
            ids, labels = branches[0]
            return ids, labels, list(range(len(ids)))
        first_label = min(next(i for i, t in enumerate(lab) if t != IGNORE) for _, lab in branches)
        # the longest prefix all branches share, at most up to the token before the first label
        c = len(os.path.commonprefix([ids[:max(first_label - 1, 0)] for ids, _ in branches]))
        ref = branches[0][0]
        if self.image_token_id in ref[c:]:
            raise ValueError(f"record {rec['id']}: its questions differ before the last image token; "
                             "cannot share the image prefix")
        ids, labels = list(ref), list(branches[0][1])
        pos = list(range(len(ref)))
        for b_ids, b_lab in branches[1:]:
            ids += b_ids[c:]
            labels += b_lab[c:]
            pos += range(c, len(b_ids))
        if self.max_length is not None and len(ids) > self.max_length:
            raise ValueError(f"record {rec['id']}: {len(ids)} tokens exceed max_length {self.max_length}")
        return ids, labels, pos

    def __call__(self, records: list[dict]) -> dict[str, torch.Tensor]:
        images = [im for rec in records for im in load_images(rec["images"], self.image_root)]
        vision = self.image_processor(images=images, return_tensors="pt") if images else {}
        grid = vision["image_grid_thw"] if images else torch.zeros(0, 3, dtype=torch.long)
        n_visual = (grid.prod(-1) // self.merge**2).tolist()
        seqs, k = [], 0
        for rec in records:
            m = len(rec["images"])
            enc = self.encode_tree if self.shared_prefix else self.encode_record
            seqs.append(enc(rec, n_visual[k:k + m]))
            k += m
        length = max(len(s[0]) for s in seqs)
        input_ids = torch.full((len(seqs), length), self.pad_id, dtype=torch.long)
        labels = torch.full((len(seqs), length), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(seqs), length), dtype=torch.long)
        positions = torch.zeros((len(seqs), length), dtype=torch.long) if self.shared_prefix else None
        for b, (ids, lab, *pos) in enumerate(seqs):
            input_ids[b, : len(ids)] = torch.tensor(ids)
            labels[b, : len(lab)] = torch.tensor(lab)
            attention[b, : len(ids)] = 1
            if positions is not None:
                positions[b, : len(ids)] = torch.tensor(pos[0])
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "mm_token_type_ids": (input_ids == self.image_token_id).long(),
            "labels": labels,
        }
        if positions is not None:
            batch["text_position_ids"] = positions
        if images:
            batch["pixel_values"] = vision["pixel_values"]
            batch["image_grid_thw"] = grid
        return batch
