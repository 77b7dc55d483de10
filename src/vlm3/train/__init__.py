"""Training: QA dataset/collator, the Trainer setup and the `python -m vlm3.train` CLI."""
