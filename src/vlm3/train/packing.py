"""Padding-free sequence packing for Qwen3-VL (transformers 5.x).

Several tokenised samples (each with its images) are concatenated into ONE row, so no compute is
spent on padding. Three things keep the packed row equivalent to running the samples one by one:

1. Positions. Qwen3-VL uses 3-D mRoPE (temporal, height, width) position ids that restart at 0 in
   every sample. They are computed per sample with transformers' own
   `Qwen3VLModel.get_rope_index` (so they can never drift from the model's) and concatenated.
   The model accepts `position_ids` of shape (4, B, L): row 0 is the plain *text* position
   (0, 1, ..., len-1 inside each sample), rows 1-3 the mRoPE ids. Only rows 1-3 enter RoPE.
2. Attention. Row 0 restarts at 0 at every sample start, which is how transformers detects packed
   sequences: with `attn_implementation="sdpa"`/`"eager"` `masking_utils.find_packed_sequence_indices`
   turns it into a block-diagonal causal mask (needs `attention_mask=None`, which this collator
   guarantees); with `"flash_attention_2"` `_is_packed_sequence` turns it into `cu_seq_lens` for
   the varlen kernel (needs batch size 1: one packed row per micro-batch, as produced here).
   Without flash-attn, `use_packed_sdpa(model)` selects `sdpa_packed` for the text decoder: one
   call of torch's built-in FlashAttention varlen kernel per layer on CUDA (per-sample SDPA
   elsewhere), no mask at all, no work on cross-sample blocks.
   Images never mix either: the vision tower already attends per image through `image_grid_thw`.
   `cu_seq_lens_*` kwargs are deliberately NOT emitted: Qwen3-VL forwards its kwargs to the vision
   tower too, where text sequence lengths would be wrong.
3. Loss. The causal-LM loss shifts labels by one inside the row, so the last token of sample i
   would be trained to predict the first token of sample i+1. The first label of every sample is
   set to `ignore_index`; that label is never used unpacked either (the shift drops it), so the
   token-summed loss is exactly the sum of the per-sample losses.

4. Shared prefix (`vlm3.train.data`, `QACollator(shared_prefix=True)`). A sample may carry
   `text_position_ids`: a text position that drops to p > 0 (instead of 0) starts a *branch* of the
   current sample that continues its first p tokens. The branch gets the mRoPE ids of the sequence
   "first p tokens + branch" (again from `get_rope_index`) and, in `sdpa_packed`, attends to those p
   tokens and causally to itself only; so every branch computes exactly what it would alone.
   Branches need `sdpa_packed` (flash-attn's and torch's varlen kernels would cut them off their
   prefix); the varlen fast path is skipped for rows that hold one.

Input samples are dicts with (tensors, numpy arrays or lists):
  input_ids (L,) or (1, L); labels (same shape, ignore_index where no loss; default: input_ids
  with image/video placeholder tokens ignored); optional attention_mask (1 = keep, used to strip
  padding); optional mm_token_type_ids (0 text, 1 image, 2 video; default derived from the
  placeholder token ids); pixel_values (n_patches, C*T*P*P) and image_grid_thw (n_images, 3) when
  the sample has images.
Output: `input_ids`, `labels`, `mm_token_type_ids` (1, L_total) int64, `position_ids` (4, 1, L_total)
int64, and `pixel_values` (float, concatenated) / `image_grid_thw` (concatenated) when any sample
has images. Pass it straight to `Qwen3VLForConditionalGeneration(**batch)`. `PackedBatchCollator` wraps a
padding collator (`vlm3.train.data.QACollator`); `pack_indices` groups samples into token budgets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLModel

IGNORE_INDEX = -100


def _as_long_1d(value: Any, name: str, index: int) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(value) if isinstance(value, list) else value)
    if t.ndim == 2 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 1:
        raise ValueError(f"sample {index}: {name} must have shape (L,) or (1, L), got {tuple(t.shape)}")
    if t.dtype.is_floating_point:
        raise ValueError(f"sample {index}: {name} must be integer, got {t.dtype}")
    return t.to(torch.long)


class _RopeIndexer:
    """The two attributes `Qwen3VLModel.get_rope_index` reads from `self`, without a model.

    Calling transformers' method (instead of re-implementing mRoPE) keeps packed positions
    identical to what the model computes for an unpacked sample; the collator runs in data-loader
    workers where no model instance exists.
    """

    def __init__(self, spatial_merge_size: int):
        self.config = SimpleNamespace(vision_config=SimpleNamespace(spatial_merge_size=spatial_merge_size))

    @staticmethod
    def get_vision_position_ids(*args, **kwargs):
        # get_vision_position_ids does not touch `self`.
        return Qwen3VLModel.get_vision_position_ids(None, *args, **kwargs)

    def __call__(self, input_ids, mm_token_type_ids, image_grid_thw, video_grid_thw):
        pos, _ = Qwen3VLModel.get_rope_index(
            self, input_ids[None], mm_token_type_ids[None], image_grid_thw=image_grid_thw,
            video_grid_thw=video_grid_thw,
        )
        return pos[:, 0]  # (3, L)


@dataclass
class PackedSample:
    """One sample after validation: 1-D token tensors and its own visual inputs."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    mm_token_type_ids: torch.Tensor
    pixel_values: torch.Tensor | None
    image_grid_thw: torch.Tensor | None
    text_pos: torch.Tensor | None = None   # shared-prefix positions (point 4), None: 0..L-1


class PackingCollator:
    """Collate a list of samples into one padding-free packed row (see module docstring).

    spatial_merge_size: vision_config.spatial_merge_size (2 for every Qwen3-VL).
    image_token_id / video_token_id: config.image_token_id / config.video_token_id.
    pad_token_id, pad_to_multiple_of: optionally pad the row's length up to a multiple (static
        shapes for torch.compile/CUDA graphs); the padding is its own isolated segment with
        ignored labels, so it changes no loss or gradient.
    """

    def __init__(
        self,
        spatial_merge_size: int = 2,
        image_token_id: int = 151655,
        video_token_id: int = 151656,
        pad_token_id: int = 151643,
        pad_to_multiple_of: int | None = None,
        ignore_index: int = IGNORE_INDEX,
    ):
        if spatial_merge_size < 1:
            raise ValueError(f"spatial_merge_size must be >= 1, got {spatial_merge_size}")
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be >= 1 or None, got {pad_to_multiple_of}")
        self.spatial_merge_size = spatial_merge_size
        self.image_token_id = image_token_id
        self.video_token_id = video_token_id
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.ignore_index = ignore_index
        self._rope = _RopeIndexer(spatial_merge_size)

    @classmethod
    def from_config(cls, config, **kwargs) -> "PackingCollator":
        """Build from a `Qwen3VLConfig` (token ids and merge size read from it)."""
        pad = getattr(config, "pad_token_id", None)
        if pad is None:
            pad = getattr(config.text_config, "pad_token_id", None)
        return cls(
            spatial_merge_size=config.vision_config.spatial_merge_size,
            image_token_id=config.image_token_id,
            video_token_id=config.video_token_id,
            pad_token_id=0 if pad is None else pad,
            **kwargs,
        )

    # -- validation -----------------------------------------------------------------------------
    def _sample(self, s: Mapping[str, Any], i: int) -> PackedSample:
        if "input_ids" not in s:
            raise ValueError(f"sample {i}: missing 'input_ids'")
        ids = _as_long_1d(s["input_ids"], "input_ids", i)
        keep = None
        if s.get("attention_mask") is not None:
            keep = _as_long_1d(s["attention_mask"], "attention_mask", i).bool()
            if keep.shape != ids.shape:
                raise ValueError(f"sample {i}: attention_mask shape {tuple(keep.shape)} != input_ids {tuple(ids.shape)}")
            ids = ids[keep]
        if ids.numel() == 0:
            raise ValueError(f"sample {i}: empty input_ids")
        is_img, is_vid = ids == self.image_token_id, ids == self.video_token_id
        if s.get("labels") is not None:
            labels = _as_long_1d(s["labels"], "labels", i)
            labels = labels[keep] if keep is not None and labels.shape == keep.shape else labels
        else:
            labels = ids.masked_fill(is_img | is_vid, self.ignore_index)
        if labels.shape != ids.shape:
            raise ValueError(f"sample {i}: labels shape {tuple(labels.shape)} != input_ids {tuple(ids.shape)}")
        if s.get("mm_token_type_ids") is not None:
            mm = _as_long_1d(s["mm_token_type_ids"], "mm_token_type_ids", i)
            mm = mm[keep] if keep is not None and mm.shape == keep.shape else mm
            if mm.shape != ids.shape:
                raise ValueError(f"sample {i}: mm_token_type_ids shape {tuple(mm.shape)} != input_ids {tuple(ids.shape)}")
        else:
            mm = is_img.long() + 2 * is_vid.long()
        if bool(is_vid.any()):
            raise ValueError(f"sample {i}: video inputs are not supported by PackingCollator")
        text_pos = None
        if s.get("text_position_ids") is not None:
            text_pos = _as_long_1d(s["text_position_ids"], "text_position_ids", i)
            text_pos = text_pos[keep] if keep is not None and text_pos.shape == keep.shape else text_pos
            if text_pos.shape != ids.shape or int(text_pos[0]) != 0:
                raise ValueError(f"sample {i}: text_position_ids must match input_ids and start at 0")
        pv, grid = s.get("pixel_values"), s.get("image_grid_thw")
        n_img_tokens = int(is_img.sum())
        if (pv is None) != (grid is None):
            raise ValueError(f"sample {i}: pixel_values and image_grid_thw must be given together")
        if grid is not None:
            grid = torch.as_tensor(np.asarray(grid) if isinstance(grid, list) else grid).to(torch.long).reshape(-1, 3)
            pv = torch.as_tensor(pv)
            if pv.ndim != 2 or pv.shape[0] != int(grid.prod(-1).sum()):
                raise ValueError(
                    f"sample {i}: pixel_values shape {tuple(pv.shape)} does not match image_grid_thw "
                    f"(expects {int(grid.prod(-1).sum())} patch rows)"
                )
            expected = int((grid.prod(-1) // self.spatial_merge_size**2).sum())
        else:
            expected = 0
        if n_img_tokens != expected:
            raise ValueError(
                f"sample {i}: {n_img_tokens} image placeholder tokens but image_grid_thw implies {expected}"
            )
        return PackedSample(ids, labels, mm, pv, grid, text_pos)

    def _positions(self, p: PackedSample) -> torch.Tensor:
        """(4, L) position ids of one sample: the text row and the mRoPE rows (point 1), per branch
        when the sample has shared-prefix branches (point 4)."""
        n = p.input_ids.numel()
        if p.text_pos is None:
            rope = self._rope(p.input_ids, p.mm_token_type_ids, p.image_grid_thw, None)
            return torch.cat([torch.arange(n, dtype=torch.long)[None], rope], dim=0)
        tp = p.text_pos
        spans = _segments(tp[None])[0]
        e0 = spans[0][1]
        root = self._rope(p.input_ids[:e0], p.mm_token_type_ids[:e0], p.image_grid_thw, None)
        rows = [root]
        for s, e in spans[1:]:
            c = int(tp[s])
            if not 0 < c <= e0:
                raise ValueError(f"shared-prefix branch at token {s} restarts at {c}, outside the first "
                                 f"branch's {e0} tokens")
            if bool(p.mm_token_type_ids[s:e].any()) or bool(p.mm_token_type_ids[c - 1]):
                raise ValueError(f"shared-prefix branch at token {s}: images belong inside the prefix, "
                                 "which must end on a text token")
            # a text-only branch continues its prefix's mRoPE ids one by one on all three axes, as
            # get_rope_index numbers text after the last image (tests compare with the single turns)
            rows.append(root[:, c - 1:c] + torch.arange(1, e - s + 1, dtype=torch.long))
        return torch.cat([tp[None], torch.cat(rows, dim=1)], dim=0)

    # -- packing --------------------------------------------------------------------------------
    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if len(samples) == 0:
            raise ValueError("PackingCollator: got an empty list of samples")
        parts = [self._sample(s, i) for i, s in enumerate(samples)]
        ids, labels, mm, pos = [], [], [], []
        for p in parts:
            pos.append(self._positions(p))
            lab = p.labels.clone()
            lab[0] = self.ignore_index  # see module docstring, point 3
            ids.append(p.input_ids), labels.append(lab), mm.append(p.mm_token_type_ids)
        total = sum(t.numel() for t in ids)
        if self.pad_to_multiple_of and total % self.pad_to_multiple_of:
            n = self.pad_to_multiple_of - total % self.pad_to_multiple_of
            ids.append(torch.full((n,), self.pad_token_id, dtype=torch.long))
            labels.append(torch.full((n,), self.ignore_index, dtype=torch.long))
            mm.append(torch.zeros(n, dtype=torch.long))
            pos.append(torch.arange(n, dtype=torch.long)[None].expand(4, n))
        batch = {
            "input_ids": torch.cat(ids)[None],
            "labels": torch.cat(labels)[None],
            "mm_token_type_ids": torch.cat(mm)[None],
            "position_ids": torch.cat(pos, dim=1)[:, None],
        }
        with_img = [p for p in parts if p.image_grid_thw is not None]
        if with_img:
            batch["pixel_values"] = torch.cat([p.pixel_values for p in with_img])
            batch["image_grid_thw"] = torch.cat([p.image_grid_thw for p in with_img])
        return batch


def unpad_batch(batch: Mapping[str, torch.Tensor], image_token_id: int, spatial_merge_size: int = 2) -> list[dict]:
    """Split a right/left-padded model batch (input_ids, attention_mask, labels, mm_token_type_ids,
    pixel_values, image_grid_thw, as `vlm3.train.data.QACollator` emits) back into per-sample
    dicts for `PackingCollator`. Images are assigned to samples in order by counting each
    sample's image placeholder tokens."""
    ids = batch["input_ids"]
    mask = batch.get("attention_mask")
    grid = batch.get("image_grid_thw")
    pv = batch.get("pixel_values")
    tokens_per_image = (grid.prod(-1) // spatial_merge_size**2).tolist() if grid is not None else []
    patches_per_image = grid.prod(-1).tolist() if grid is not None else []
    out, img, row = [], 0, 0
    for b in range(ids.shape[0]):
        keep = mask[b].bool() if mask is not None else torch.ones_like(ids[b], dtype=torch.bool)
        s = {k: batch[k][b][keep] for k in ("input_ids", "labels", "mm_token_type_ids", "text_position_ids")
             if batch.get(k) is not None}
        need = int((s["input_ids"] == image_token_id).sum())
        first = img
        while need > 0:
            if img >= len(tokens_per_image):
                raise ValueError(f"batch row {b}: more image tokens than image_grid_thw rows provide")
            need -= tokens_per_image[img]
            img += 1
        if need != 0:
            raise ValueError(f"batch row {b}: image tokens do not match whole images of image_grid_thw")
        if img > first:
            n_rows = int(sum(patches_per_image[first:img]))
            s["pixel_values"] = pv[row:row + n_rows]
            s["image_grid_thw"] = grid[first:img]
            row += n_rows
        out.append(s)
    return out


class PackedBatchCollator:
    """Wrap a padding collator (e.g. `vlm3.train.data.QACollator`) so its batches come out packed:
    `PackedBatchCollator(QACollator(processor), PackingCollator.from_config(model.config))` is a
    drop-in `collator=` for `vlm3.train.trainer.train`."""

    def __init__(self, inner, packer: PackingCollator):
        self.inner, self.packer = inner, packer

    def __call__(self, records):
        padded = self.inner(records)
        return self.packer(unpad_batch(padded, self.packer.image_token_id, self.packer.spatial_merge_size))


def pack_indices(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Group sample indices into packs of at most `max_tokens` tokens (first-fit decreasing).

    Deterministic: ties are broken by index; packs come out ordered by their first index,
    and indices inside a pack are sorted. Raises ValueError if one sample alone exceeds the cap.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: (-int(lengths[i]), i))
    packs: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = int(lengths[i])
        if n < 1 or n > max_tokens:
            raise ValueError(f"sample {i} has {n} tokens; must be in [1, max_tokens={max_tokens}]")
        for j, r in enumerate(room):
            if n <= r:
                packs[j].append(i)
                room[j] -= n
                break
        else:
            packs.append([i])
            room.append(max_tokens - n)
    return sorted((sorted(p) for p in packs), key=lambda p: p[0])


# -- attention that respects packed-sample boundaries without flash-attn ---------------------------
PACKED_SDPA = "sdpa_packed"
_VARLEN_BROKEN = False


def _segments(position_ids: torch.Tensor) -> list[list[tuple[int, int]]]:
    """Per row, the [start, end) spans of packed samples: a new sample starts wherever the text
    position does not increase by exactly 1 (transformers' own rule). Cached on the tensor, which
    every decoder layer (and the checkpoint recompute) receives as the same object."""
    cached = getattr(position_ids, "_vlm3_segments", None)
    if cached is not None:
        return cached
    pos = position_ids.detach()
    starts = torch.ones_like(pos, dtype=torch.bool)
    starts[:, 1:] = (pos[:, 1:] - pos[:, :-1]) != 1
    L = pos.shape[1]
    out = []
    for row in starts.cpu():
        s = row.nonzero().flatten().tolist()
        out.append(list(zip(s, s[1:] + [L])))
    position_ids._vlm3_segments = out
    return out


def _branches(position_ids: torch.Tensor) -> list[list[tuple[int, int, int, int]]]:
    """Per row, (start, end, root, p) of every span of `_segments`: p = 0 for a sample's first span
    (root = start), p > 0 for a shared-prefix branch that continues the first p tokens of the
    sample starting at `root` (point 4). Cached like `_segments`."""
    cached = getattr(position_ids, "_vlm3_branches", None)
    if cached is not None:
        return cached
    out = []
    for b, spans in enumerate(_segments(position_ids)):
        row, root = [], 0
        for s, e in spans:
            p = int(position_ids[b, s])
            if p == 0:
                root = s
            row.append((s, e, root, p))
        out.append(row)
    position_ids._vlm3_branches = out
    return out


@dataclass
class _BranchGroup:
    """The branches of one packed sample as one batched SDPA call (see `_BranchPlan`)."""

    q_idx: torch.Tensor      # (nb * Lmax,) token index of each padded branch query
    k_idx: torch.Tensor      # (nb * Kmax,) token index of each padded branch key
    mask: torch.Tensor       # (nb, 1, Lmax, Kmax) additive: 0 where allowed, -inf elsewhere
    valid: torch.Tensor      # positions of the real branch queries in the (nb * Lmax) rows
    shape: tuple[int, int, int]  # nb, Lmax, Kmax


@dataclass
class _BranchPlan:
    """How one packed row with shared-prefix branches (point 4) is attended, built once per forward
    and device (cached on the row's position ids, so every layer and the recompute reuse it).

    Each sample's first span (its prefix and first question) is plain causal attention. The other
    branches of a sample go into one batched SDPA call: branch n's queries (its l_n tokens, padded
    to the sample's longest branch) see the keys "first p tokens of the sample + its own tokens"
    under an additive mask that is causal within the branch. So a branch costs l_n x (p + l_n)
    attention work, not a share of the sample's whole L x L block (on a 20-question record most of
    that block is masked out). `cat(pieces)[perm]` puts the pieces (first spans in order, then each
    group's real rows) back into token order."""

    roots: list[tuple[int, int]]
    groups: list[_BranchGroup]
    perm: torch.Tensor       # (L,) row token -> index in the concatenated pieces


def _branch_group(branches, device, dtype) -> _BranchGroup:
    nb = len(branches)
    l_max = max(e - s for s, e, _, _ in branches)
    k_max = max(p + e - s for s, e, _, p in branches)
    q_idx = torch.zeros(nb, l_max, dtype=torch.long)
    k_idx = torch.zeros(nb, k_max, dtype=torch.long)
    allowed = torch.zeros(nb, l_max, k_max, dtype=torch.bool)
    valid = []
    for n, (s, e, root, p) in enumerate(branches):
        n_tok = e - s
        q_idx[n, :n_tok] = torch.arange(s, e)
        q_idx[n, n_tok:] = s
        k_idx[n, :p] = torch.arange(root, root + p)
        k_idx[n, p:p + n_tok] = torch.arange(s, e)
        k_idx[n, p + n_tok:] = root
        allowed[n, :n_tok, :p] = True
        allowed[n, :n_tok, p:p + n_tok] = torch.ones(n_tok, n_tok, dtype=torch.bool).tril()
        allowed[n, n_tok:, 0] = True  # padding queries see one key (no NaN); their rows are dropped
        valid.extend(range(n * l_max, n * l_max + n_tok))
    mask = torch.zeros(nb, 1, l_max, k_max, dtype=dtype).masked_fill_(~allowed[:, None], float("-inf"))
    return _BranchGroup(q_idx.flatten().to(device), k_idx.flatten().to(device), mask.to(device),
                        torch.tensor(valid, dtype=torch.long, device=device), (nb, l_max, k_max))


def _branch_plan(spans, length: int, device, dtype) -> _BranchPlan:
    roots, by_root = [], {}
    for s, e, root, p in spans:
        if p == 0:
            roots.append((s, e))
        else:
            by_root.setdefault(root, []).append((s, e, root, p))
    order = [t for s, e in roots for t in range(s, e)]
    order += [t for branches in by_root.values() for s, e, _, _ in branches for t in range(s, e)]
    if sorted(order) != list(range(length)):
        raise ValueError("shared-prefix row: its spans do not cover the row exactly once")
    perm = torch.empty(length, dtype=torch.long)
    perm[torch.tensor(order)] = torch.arange(length)
    groups = [_branch_group(branches, device, dtype) for branches in by_root.values()]
    return _BranchPlan(roots, groups, perm.to(device))


def _cached_plan(position_ids: torch.Tensor, b: int, spans, query: torch.Tensor) -> _BranchPlan:
    """Row b's `_BranchPlan` for the query's device and dtype, built once per forward (cached on the
    position ids, which every layer and the recompute receive as the same object, like `_segments`)."""
    plans = getattr(position_ids, "_vlm3_plans", None)
    if plans is None:
        plans = position_ids._vlm3_plans = {}
    key = (b, str(query.device), query.dtype)
    if key not in plans:
        plans[key] = _branch_plan(spans, query.shape[2], query.device, query.dtype)
    return plans[key]


def _branched_row(module, query, key, value, plan: _BranchPlan, kwargs) -> torch.Tensor:
    """Attention of one row (batch index already taken: (H, L, D) each) by `plan`: (1, L, H, D)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    h, d, hk = query.shape[0], query.shape[2], key.shape[0]
    pieces = [sdpa_attention_forward(module, query[None, :, s:e], key[None, :, s:e], value[None, :, s:e], None,
                                     is_causal=True, **kwargs)[0][0] for s, e in plan.roots]
    for g in plan.groups:
        nb, l_max, k_max = g.shape
        q = query[:, g.q_idx].view(h, nb, l_max, d).transpose(0, 1)
        k = key[:, g.k_idx].view(hk, nb, k_max, d).transpose(0, 1)
        v = value[:, g.k_idx].view(hk, nb, k_max, d).transpose(0, 1)
        out = sdpa_attention_forward(module, q, k, v, g.mask, **kwargs)[0]  # (nb, Lmax, H, D)
        pieces.append(out.reshape(nb * l_max, h, d)[g.valid])
    return torch.cat(pieces)[plan.perm][None]


def _varlen_fn():
    """torch's built-in FlashAttention varlen kernel (`torch.nn.attention.varlen.varlen_attn`,
    CUDA only, torch >= 2.10) and the keyword names this torch version takes, or None."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    import inspect

    return varlen_attn, set(inspect.signature(varlen_attn).parameters)


VARLEN_VISION = "vlm3_flash_varlen_vision"  # "flash" in the name: transformers then hands the vision
# attention the images' cu_seqlens (Qwen3VLVisionAttention) instead of splitting them per image


@torch.compiler.disable  # as the text path: the kernel lookup stays out of the compiled ViT blocks
def varlen_vision_attention(module, query, key, value, attention_mask=None, scaling=None, dropout=0.0,
                            cu_seq_lens_q=None, max_length_q=None, **kwargs):
    """The vision tower's attention (full, within each image) over all images of a batch in ONE
    call of torch's FlashAttention varlen kernel, on CUDA in bf16/fp16 when this torch has it;
    elsewhere one SDPA call per image, exactly what transformers' `sdpa` vision attention does.
    Shapes: query (1, H, L, D) -> (1, L, H, D)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    global _VARLEN_BROKEN
    cu = cu_seq_lens_q
    fn_params = (_varlen_fn() if query.is_cuda and query.dtype in (torch.bfloat16, torch.float16) and not dropout
                 else None)
    if fn_params is not None and not _VARLEN_BROKEN:
        q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # (L, H, D)
        cu_dev = cu.to(device=q.device, dtype=torch.int32)
        n = int(max_length_q) if max_length_q is not None else int((cu_dev[1:] - cu_dev[:-1]).max())
        try:
            return fn_params[0](q, k, v, cu_dev, cu_dev, n, n, scale=scaling)[None], None
        except (TypeError, RuntimeError, NotImplementedError) as e:  # API differs across torch versions
            _VARLEN_BROKEN = True
            logging.getLogger(__name__).warning("varlen_attn unusable (%s); vision attention per image", e)
    lengths = (cu[1:] - cu[:-1]).tolist()
    parts = [sdpa_attention_forward(module, q, k, v, None, scaling=scaling, dropout=dropout, is_causal=False)[0]
             for q, k, v in zip(*(t.split(lengths, dim=2) for t in (query, key, value)))]
    return torch.cat(parts, dim=1), None


def use_varlen_vision(model) -> str:
    """Select `varlen_vision_attention` for the vision tower of a Qwen3-VL model (in place) and
    return the kernel it will use on this machine: one varlen FlashAttention call per ViT layer
    instead of one SDPA call per image (on an H200 the per-image cuDNN calls were 9 % of a
    training step's kernel time, benchmarks/RESULTS.md)."""
    from transformers import AttentionInterface

    AttentionInterface.register(VARLEN_VISION, varlen_vision_attention)
    vis_cfg = model.model.visual.config
    vis_cfg._attn_implementation = VARLEN_VISION
    if model.config.vision_config is not vis_cfg:
        model.config.vision_config._attn_implementation = VARLEN_VISION
    return "varlen FlashAttention" if torch.cuda.is_available() and _varlen_fn() is not None else "SDPA per image"


def _cu_seqlens(position_ids: torch.Tensor, device) -> tuple[torch.Tensor, int]:
    cached = getattr(position_ids, "_vlm3_cu", None)
    if cached is None:
        spans = _segments(position_ids)[0]
        cu = torch.tensor([s for s, _ in spans] + [spans[-1][1]], dtype=torch.int32, device=device)
        cached = (cu, max(e - s for s, e in spans))
        position_ids._vlm3_cu = cached
    return cached


def _varlen_attention(module, query, key, value, position_ids, scaling, fn_params):
    """One varlen FlashAttention call over the packed row (batch 1): (1, H, L, D) -> (1, L, H, D)."""
    fn, params = fn_params
    cu, max_len = _cu_seqlens(position_ids, query.device)
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # (L, H, D)
    kw = {"scale": scaling}
    if "is_causal" in params:
        kw["is_causal"] = True
    else:
        kw["window_size"] = (-1, 0)
    if k.shape[1] != q.shape[1]:
        if "enable_gqa" in params:
            kw["enable_gqa"] = True
        else:
            rep = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    out = fn(q, k, v, cu, cu, max_len, max_len, **kw)
    return out[None]


@torch.compiler.disable  # host-side segment bookkeeping; compiled regions break around it cleanly
def packed_sdpa_attention_forward(module, query, key, value, attention_mask, position_ids=None, **kwargs):
    """Causal attention that never crosses packed-sample boundaries, without flash-attn.

    On CUDA with bf16/fp16 it makes ONE call to torch's FlashAttention varlen kernel when this torch
    has it; otherwise it runs SDPA separately on each sample (causal, no mask) with cuDNN attention
    excluded (cuDNN builds a new execution plan for every new sequence length, which with packed
    samples of varied lengths cost more than the attention itself in a measured H100 run). Either
    way no work is spent on cross-sample blocks, where a block-diagonal mask would cost
    O(L_row^2) instead of sum O(L_i^2). A row holding shared-prefix branches (point 4) goes through
    `_BranchPlan`: each sample's first span causal, its other branches in one batched masked call.
    Falls back to plain SDPA when a mask is given (padded batches) or no position ids are known.
    Shapes: query (B, H, L, D) -> (B, L, H, D).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if attention_mask is not None or position_ids is None or query.shape[2] != position_ids.shape[-1]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    if position_ids.ndim == 1:
        position_ids = position_ids[None]
    kwargs.pop("is_causal", None)
    scaling = kwargs.get("scaling")
    global _VARLEN_BROKEN
    fn_params = _varlen_fn() if query.is_cuda and query.dtype in (torch.bfloat16, torch.float16) else None
    if position_ids.shape[0] != query.shape[0]:
        position_ids = position_ids.expand(query.shape[0], -1)
    has_branch = any(p > 0 for row in _branches(position_ids) for *_, p in row)
    if (fn_params is not None and not _VARLEN_BROKEN and query.shape[0] == 1 and not kwargs.get("dropout")
            and not has_branch):
        try:
            return _varlen_attention(module, query, key, value, position_ids, scaling, fn_params), None
        except (TypeError, RuntimeError, NotImplementedError) as e:  # API differs across torch versions
            _VARLEN_BROKEN = True
            logging.getLogger(__name__).warning("varlen_attn unusable (%s); using per-sample SDPA", e)
    rows = []
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
        for b, spans in enumerate(_branches(position_ids)):
            if any(p > 0 for *_, p in spans):
                plan = _cached_plan(position_ids, b, spans, query)
                rows.append(_branched_row(module, query[b], key[b], value[b], plan, kwargs))
                continue
            parts = [sdpa_attention_forward(module, query[b:b + 1, :, s:e], key[b:b + 1, :, s:e],
                                            value[b:b + 1, :, s:e], None, is_causal=True, **kwargs)[0]
                     for s, e, _, _ in spans]
            rows.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))
    return (rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)), None


def _packed_sdpa_mask(*args, attention_mask=None, **kwargs):
    """No mask for packed rows (the attention splits by position ids); a padding mask, if any,
    is built exactly as for `sdpa`."""
    if attention_mask is None:
        return None
    from transformers.masking_utils import sdpa_mask

    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


def use_packed_sdpa(model) -> None:
    """Register the `sdpa_packed` attention and select it for the text decoder of a Qwen3-VL
    model (the vision tower keeps its own per-image attention). Use with `PackingCollator`
    whenever flash-attn is not installed; with flash-attn use `attn_implementation=
    "flash_attention_2"` instead, which reads the same position ids."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(PACKED_SDPA, _packed_sdpa_mask)
    text_cfg = model.model.language_model.config
    text_cfg._attn_implementation = PACKED_SDPA
    if model.config.text_config is not text_cfg:
        model.config.text_config._attn_implementation = PACKED_SDPA
