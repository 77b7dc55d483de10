"""An image-only Qwen3-VL processor and the chat template the tiny model uses.

`Qwen3VLProcessor` requires a video processor, and the Qwen3-VL video processor needs torchvision,
which this project must not install. `ImageOnlyQwen3VLProcessor` is the same processor with the
video slot removed (`ProcessorMixin` derives its sub-processors from the `__init__` signature), so
it tokenises text, expands `<|image_pad|>` to the right number of visual tokens and returns
`mm_token_type_ids` exactly as the upstream processor does. Load a saved one with
`load_processor(dir)` (the Auto classes do not know this subclass).

Real Qwen3-VL checkpoints keep using `AutoProcessor` where torchvision exists; nothing here
changes their behaviour.
"""

from __future__ import annotations

from pathlib import Path

from transformers import Qwen3VLProcessor

# Qwen chat special tokens, in the order of the Qwen3 vocabulary. The processor and the chat
# template need `<|im_start|>`, `<|im_end|>`, `<|vision_start|>`, `<|vision_end|>`,
# `<|image_pad|>` and `<|video_pad|>`; the others are kept so prompts written for Qwen still
# tokenise to single tokens.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
IMAGE_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"

# Qwen's chat layout without system prompt or "thinking" blocks: each message is
# "<|im_start|>{role}\n{content}<|im_end|>\n"; an image item becomes IMAGE_PLACEHOLDER, which the
# processor expands to one <|image_pad|> per visual token.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif item['type'] == 'text' -%}{{- item['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


class ImageOnlyQwen3VLProcessor(Qwen3VLProcessor):
    """`Qwen3VLProcessor` without the (torchvision-only) video processor."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


def render_segments(messages: list[dict]) -> list[tuple[str, bool]]:
    """Split a chat into text segments flagged True where the loss applies.

    The concatenation equals `CHAT_TEMPLATE` rendered without generation prompt (a test checks
    this). Loss segments are each assistant answer plus its closing `<|im_end|>` (so the model
    learns to stop); everything else, including the role headers, is context. Every segment
    boundary sits at a special token, so tokenising segments one by one gives the same ids as
    tokenising the whole text.
    """
    out: list[tuple[str, bool]] = []
    pending = ""
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role not in ("user", "assistant", "system"):
            raise ValueError(f"message {i}: unknown role {role!r}")
        content = msg.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            parts = []
            for item in content:
                if item.get("type") == "image":
                    parts.append(IMAGE_PLACEHOLDER)
                elif item.get("type") == "text":
                    parts.append(item["text"])
                else:
                    raise ValueError(f"message {i}: unknown content item type {item.get('type')!r}")
            text = "".join(parts)
        else:
            raise ValueError(f"message {i}: content must be a string or a list, got {type(content).__name__}")
        pending += f"<|im_start|>{role}\n"
        if role == "assistant":
            out.append((pending, False))
            out.append((text + "<|im_end|>", True))
            pending = "\n"
        else:
            pending += text + "<|im_end|>\n"
    if pending:
        out.append((pending, False))
    return out


def load_processor(path: str | Path) -> ImageOnlyQwen3VLProcessor:
    """Load a processor saved by `vlm3.model.build` (or any saved `ImageOnlyQwen3VLProcessor`)."""
    path = Path(path)
    if not (path / "processor_config.json").exists() and not (path / "preprocessor_config.json").exists():
        raise ValueError(f"{path}: no saved processor (processor_config.json / preprocessor_config.json missing)")
    return ImageOnlyQwen3VLProcessor.from_pretrained(str(path))
