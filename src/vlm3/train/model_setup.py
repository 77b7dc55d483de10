"""Model setup and optimisation plug-ins of the trainer (checkpointing, compile, Liger, the sparse LM-head
loss, the global-batch plan), for CPU runs and FSDP alike (the module was once named fsdp.py).

Plug-in points for the trainer (`vlm3.train.trainer`), all independent of how it loops:
- `setup_model(model, ...)`: gradient checkpointing, frozen vision tower, the Conv3d->Linear patch
  embedding, optional Liger kernels. Call before `accelerator.prepare`.
- `batch_plan(global_batch, world_size, micro_batch)`: per-device batch and gradient accumulation
  that keep the *global* batch fixed whatever the number of GPUs.
- `causal_lm_loss_sum(model, batch)`: summed loss and token count with the LM head run only on
  labelled positions; `set_checkpoint_fraction(model, f)`: selective checkpointing;
  `compile_blocks(model)`: regional torch.compile (measured +20-30 % on H100, benchmarks/RESULTS.md).
The optimizer and schedule are the Trainer's (`TrainConfig.optim`, cosine; hand-built ones for the
benchmarks are in benchmarks/optim.py). Gradient clipping is
`accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)` (paper: 0.02).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


class LinearPatchConv3d(nn.Conv3d):
    """A Conv3d whose kernel equals its stride and its input, computed as one matrix product.

    Qwen3-VL's patch embedding is `Conv3d(C, E, kernel=stride=(T, P, P))` applied to inputs that
    are exactly one kernel large, i.e. a Linear layer on the flattened patch; cuDNN's Conv3d path is
    slow for this in recent torch (seen in torch 2.9). Weights keep the Conv3d shape and names, so
    checkpoints and FSDP sharding are unchanged; only `forward` differs.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[2:]) != tuple(self.kernel_size):
            raise ValueError(f"LinearPatchConv3d expects inputs of kernel size {self.kernel_size}, got {tuple(x.shape)}")
        w = self.weight.reshape(self.out_channels, -1)
        y = F.linear(x.reshape(x.shape[0], -1), w, self.bias)
        return y.view(x.shape[0], self.out_channels, 1, 1, 1)


def use_linear_patch_embed(model: nn.Module) -> int:
    """Switch every Qwen-VL patch-embedding Conv3d (kernel == stride) in `model` to
    `LinearPatchConv3d` in place (class swap: parameters, hooks and state-dict keys stay).
    Returns how many were switched."""
    n = 0
    for name, mod in model.named_modules():
        if type(mod) is nn.Conv3d and name.endswith("patch_embed.proj"):
            if mod.kernel_size != mod.stride or mod.padding != (0, 0, 0) or mod.groups != 1 or mod.dilation != (1, 1, 1):
                raise ValueError(f"{name}: Conv3d is not a plain patchify conv (kernel {mod.kernel_size}, stride {mod.stride})")
            mod.__class__ = LinearPatchConv3d
            n += 1
    return n


def set_checkpoint_fraction(model: nn.Module, fraction: float) -> int:
    """Selective activation checkpointing: after `gradient_checkpointing_enable`, keep it on only for
    the first round(fraction * n) text decoder layers (vision blocks stay checkpointed). Trades
    memory for the ~1/3 recompute cost of full checkpointing. Returns the number checkpointed."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"checkpoint fraction must be in [0, 1], got {fraction}")
    layers = model.model.language_model.layers
    k = int(round(fraction * len(layers)))
    for i, layer in enumerate(layers):
        layer.gradient_checkpointing = i < k
    return k


def causal_lm_loss_sum(model: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy over labelled tokens, and their count.

    The LM head runs only at positions whose *next* label is kept (answer tokens in answer-only
    fine-tuning, ~10 % of a depth sample), via the model's `logits_to_keep` index tensor: the
    (tokens x 151936) logits and their fp32 upcast are never built for prompt/image tokens. Same
    value as the model's own `labels=` loss times the count. `batch` holds `labels`; the rest is
    passed to the model unchanged.
    """
    batch = dict(batch)
    labels = batch.pop("labels")
    shift = labels[:, 1:]
    keep = shift != -100
    idx = keep.any(0).nonzero().flatten()
    logits = model(**batch, logits_to_keep=idx).logits
    target = shift[:, idx]
    loss = F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), ignore_index=-100, reduction="sum")
    return loss, keep.sum()


def compile_blocks(model: nn.Module, dynamic: bool | None = None) -> int:
    """Regional `torch.compile` of every text decoder layer and vision block (each compiled module
    shares one graph; attention runs eagerly between compiled pieces). Fuses the memory-bound
    RMSNorm / RoPE / SwiGLU / residual element-wise chains that otherwise take about a third of
    GPU time (measured, benchmarks/RESULTS.md); a stand-in for Liger kernels. Returns the count."""
    blocks = [*model.model.language_model.layers, *model.model.visual.blocks]
    for blk in model.model.visual.blocks:
        # The ViT attention loops over images in Python (SDPA path); compiled, it recompiles for
        # every new image count and hits dynamo's recompile limit. Run it eagerly instead.
        blk.attn.forward = torch.compiler.disable(blk.attn.forward)
    for b in blocks:
        b.compile(dynamic=dynamic)
    return len(blocks)


def apply_liger(model: nn.Module) -> bool:
    """Apply Liger kernels (fused RMSNorm/SwiGLU/RoPE/linear-cross-entropy) to a Qwen3-VL model
    instance when `liger_kernel` is installed. Returns whether it was applied."""
    try:
        from liger_kernel.transformers import apply_liger_kernel_to_qwen3_vl
    except ImportError:
        log.info("liger_kernel not installed (or lacks Qwen3-VL support): using stock kernels")
        return False
    apply_liger_kernel_to_qwen3_vl(model=model)
    return True


def setup_model(
    model: nn.Module,
    *,
    gradient_checkpointing: bool = True,
    freeze_vision: bool = False,
    linear_patch_embed: bool = True,
    liger: bool = False,
) -> nn.Module:
    """Prepare a `Qwen3VLForConditionalGeneration` for training (in place; returns it).

    gradient_checkpointing: non-reentrant activation checkpointing of every decoder/vision block.
    freeze_vision: no gradients for the vision tower (`model.model.visual`, merger included).
    """
    model.config.use_cache = False
    if linear_patch_embed:
        use_linear_patch_embed(model)
    if freeze_vision:
        model.model.visual.requires_grad_(False)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if freeze_vision:
            model.enable_input_require_grads()
    if liger:
        apply_liger(model)
    return model


@dataclass(frozen=True)
class BatchPlan:
    global_batch: int
    world_size: int
    per_device_batch: int  # samples each device sees per optimizer step
    micro_batch: int  # samples per forward/backward
    grad_accum: int  # micro-batches per optimizer step

    def __post_init__(self):
        assert self.per_device_batch * self.world_size == self.global_batch
        assert self.micro_batch * self.grad_accum == self.per_device_batch


def batch_plan(global_batch: int, world_size: int, micro_batch: int) -> BatchPlan:
    """Split `global_batch` over `world_size` devices with micro-batches of at most `micro_batch`.

    per_device = global_batch / world_size must be an integer (else ValueError). The micro-batch is
    the largest divisor of per_device not above `micro_batch`, so the global batch is exact:
    e.g. the depth recipe 1344 on 32 GPUs with micro-batch 8 -> 42 per GPU = 7 x 6 accumulation.
    """
    for name, v in (("global_batch", global_batch), ("world_size", world_size), ("micro_batch", micro_batch)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if global_batch % world_size:
        raise ValueError(f"global_batch={global_batch} is not divisible by world_size={world_size}")
    per_device = global_batch // world_size
    micro = max(d for d in range(1, min(micro_batch, per_device) + 1) if per_device % d == 0)
    if micro != micro_batch:
        log.info("micro-batch %d -> %d so that %d per device splits evenly", micro_batch, micro, per_device)
    return BatchPlan(global_batch, world_size, per_device, micro, per_device // micro)

