"""The files a training run writes into its output folder (names only; no torch)."""

from __future__ import annotations

from pathlib import Path

RESUME_NAME = "resume.safetensors"  # everything needed to continue the run
LAST_NAME = "last.safetensors"  # the model after the latest complete epoch
FINAL_NAME = "model.safetensors"  # the finished model


def best_stage_path(out_dir: str | Path, stage: int) -> Path:
    """``best_stage{k}.safetensors``: the k-stage model with the best validation score of stage k."""
    return Path(out_dir) / f"best_stage{stage}.safetensors"
