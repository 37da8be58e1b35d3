"""Progressive training of the cascade (docs/method.md §5), one function for CLI and GUI.

:func:`train` checks the data, then trains stage 1; freezes it (eval mode, no gradients,
re-applied after every ``model.train()``; with ``frozen_stage_dropout`` its dropout keeps
sampling, as under MC dropout at inference) and trains stage 2 on its outputs; and so on,
optionally ending with end-to-end fine-tuning at ``lr * finetune_lr_factor``. Each phase has
its own Adam optimisers (generator and discriminators) and cosine annealing stepped once per
epoch. Each stage has a conditional PatchGAN discriminator with a least-squares loss.

Files in ``out_dir`` (all written atomically, only by rank 0):

* ``last.safetensors``: the model after the latest complete epoch;
* ``best_stage{k}.safetensors``: a k-stage model, best validation MSE of stage k;
* ``model.safetensors``: the final model;
* ``resume.safetensors``: everything :func:`train` needs to continue exactly where it
  stopped: model, discriminator and optimiser tensors, plus a JSON header with the
  counters, the optimiser/scheduler settings, the best scores and the history. No pickle.

Randomness is re-derived at the start of every epoch from (seed, rank, epoch), and the
augmentations from (seed, epoch, sample), so a resumed run repeats the uninterrupted one.

Under ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set) the same call uses
DistributedDataParallel (NCCL on GPUs, Gloo on CPUs) and a DistributedSampler. On GPUs
BatchNorm becomes SyncBatchNorm; on CPUs each rank normalises its own batch and rank 0's
running statistics are broadcast after every epoch, so all ranks hold identical weights.

Around this module: :mod:`~dfviewer.core.training_events` (the events and their JSON, no torch),
:mod:`~dfviewer.core.training_phase` (one phase's forward pass and optimisers),
:mod:`~dfviewer.core.training_validation` (validation scores and previews),
:mod:`~dfviewer.core.resume_state` (the resume file), :mod:`~dfviewer.core.distributed`
(torchrun) and :mod:`~dfviewer.core.run_files` (the file names).
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dfviewer.core import distributed
from dfviewer.core.checkpoint import save_checkpoint
from dfviewer.core.config import ExperimentConfig, ModelConfig, to_dict
from dfviewer.core.data import Augment, PairedDataset
from dfviewer.core.dataset_check import DatasetError, check_dataset
from dfviewer.core.distributed import distributed_env
from dfviewer.core.network import Cascade, PatchDiscriminator, first_stages
from dfviewer.core.resume_state import (
    TrainingError,
    flatten_state,
    new_epoch_budget,
    read_resume,
    saved_experiment,
    unflatten_state,
    write_resume,
)
from dfviewer.core.run_files import FINAL_NAME, LAST_NAME, RESUME_NAME, best_stage_path
from dfviewer.core.training_events import (
    CheckpointSaved,
    EpochDone,
    Event,
    Finished,
    RunStarted,
    StageStarted,
    StepDone,
    event_from_json,
)
from dfviewer.core.training_phase import Phase, PhaseRun, epoch_seed, fork_seeded, setup_phase
from dfviewer.core.training_step import amp_dtype, train_step
from dfviewer.core.training_validation import validate


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    out_dir: Path
    model_path: Path | None  # model.safetensors when completed, last.safetensors if cancelled
    best_paths: dict[int, Path]
    global_epoch: int
    cancelled: bool
    seconds: float
    history: list[dict[str, Any]]
    config: ExperimentConfig


# --- the trainer ------------------------------------------------------------------------------


class _Trainer:
    """One training run: data, models, the plan of phases, and the loop over them."""

    def __init__(self, data: str | Path, experiment: ExperimentConfig | None, out_dir: str | Path, resume: bool,
                 device: str, callback: Callable[[Event], None] | None, cancel: threading.Event | None) -> None:
        self.t0 = time.perf_counter()
        self.d = distributed_env()
        self.callback = callback
        self.cancel = cancel
        self.out_dir = Path(out_dir)
        self._init_distributed(device)
        self.state: dict[str, Any] | None = None
        self.tensors: dict[str, torch.Tensor] = {}
        self._phase_epochs: list[int] | None = None  # epochs of the phases already run, when resumed
        if resume:
            self.state, self.tensors = read_resume(self.out_dir)
            new_epochs = new_epoch_budget(self.state, experiment, self.out_dir, self.d.world)
            experiment = saved_experiment(self.state)
            saved = int(experiment.train.epochs_per_stage)
            self._phase_epochs = [int(e) for e in self.state.get("phase_epochs", [])] or None
            if new_epochs is not None:
                n_done = int(self.state.get("next_phase", 0))
                self._phase_epochs = (self._phase_epochs or [saved] * n_done)[:n_done]
                experiment = dataclasses.replace(
                    experiment, train=dataclasses.replace(experiment.train, epochs_per_stage=new_epochs))
        elif experiment is None:
            from dfviewer.core.config import preset

            experiment = preset("fast")
        if not resume and self.d.main and (self.out_dir / RESUME_NAME).exists():
            raise TrainingError(
                f"{self.out_dir} already holds a training run; use --resume to continue it or choose another folder"
            )
        self.exp: ExperimentConfig = experiment
        self.tc = experiment.train

        cache: dict[Path, np.ndarray] = {}
        self.report = check_dataset(data, cache)
        self.report.raise_if_blocking()
        train_pairs = self.report.split("train")
        if not train_pairs:
            raise DatasetError(f"dataset {self.report.root} has no pairs in the train split")
        mc = experiment.model
        tc = self.tc
        aug = Augment(tc.augment_rotation_deg, tc.augment_flip, tc.augment_contrast, tc.augment_zoom,
                      tc.augment_shift, tc.render_input)
        self.train_ds = PairedDataset(train_pairs, mc.normalization, mc.working_size, aug, self.tc.seed, cache)
        if self.state is None and self.tc.target_percentile > 0:
            scale = self.train_ds.target_percentile(self.tc.target_percentile)
            if not (math.isfinite(scale) and scale > 0):
                scale = 1.0
            norm = dataclasses.replace(mc.normalization, target_offset=0.0, target_scale=scale)
            mc = dataclasses.replace(mc, normalization=norm)
            self.exp = dataclasses.replace(self.exp, model=mc)
        self.train_ds.set_normalization(mc.normalization)
        self.mcfg: ModelConfig = mc
        val_pairs = self.report.split("val")
        val_aug = Augment(render=tc.render_input)  # one fixed rendering draw per case (the epoch stays 0)
        self.val_ds = PairedDataset(val_pairs, mc.normalization, mc.working_size, val_aug, 0, cache) if val_pairs else None
        cache.clear()

        torch.manual_seed(self.tc.seed)
        self.model = Cascade(mc)
        self.discs = nn.ModuleList()
        for k in range(mc.n_stages):
            with fork_seeded(self.tc.seed * 31 + 1000 + k):
                self.discs.append(PatchDiscriminator(2, self.tc.discriminator_width, self.tc.discriminator_layers))
        if self.state is not None:
            self._load_weights()
        if self.d.active and self.device.type == "cuda":
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.model.to(self.device)
        self.discs.to(self.device)

        done = self._phase_epochs or []
        self.phases = [Phase("stage", k, done[k] if k < len(done) else self.tc.epochs_per_stage)
                       for k in range(mc.n_stages)]
        if self.tc.finetune_epochs > 0:
            self.phases.append(Phase("finetune", -1, self.tc.finetune_epochs))
        self.total_epochs = sum(p.epochs for p in self.phases)
        self.sampler: torch.utils.data.DistributedSampler[Any] = torch.utils.data.DistributedSampler(
            self.train_ds, num_replicas=self.d.world, rank=self.d.rank, shuffle=True,
            seed=self.tc.seed, drop_last=False,
        )
        self.loader = torch.utils.data.DataLoader(
            self.train_ds, batch_size=self.tc.batch_size, sampler=self.sampler,
            num_workers=self.tc.num_workers, drop_last=False,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
        )
        self.steps_per_epoch = len(self.loader)
        self.amp_dtype = amp_dtype(self.tc.amp, self.device)
        s = self.state or {}
        self.global_epoch = int(s.get("global_epoch", 0))
        self.global_step = int(s.get("global_step", 0))
        self.best: dict[str, float] = dict(s.get("best", {}))
        self.history: list[dict[str, Any]] = list(s.get("history", []))
        self.elapsed_before = float(s.get("seconds", 0.0))
        self.best_paths: dict[int, Path] = {int(k): best_stage_path(self.out_dir, int(k)) for k in self.best}

    # -- setup --

    def _init_distributed(self, device: str) -> None:
        self._owns_group = distributed.init_process_group(self.d, device)
        self.device = distributed.rank_device(device, self.d)

    def _emit(self, event: Event) -> None:
        if self.callback is not None and self.d.main:
            self.callback(event)

    def _load_weights(self) -> None:
        model_sd = {k[len("model."):]: v for k, v in self.tensors.items() if k.startswith("model.")}
        self.model.load_state_dict(model_sd, strict=True)
        disc_sd = {k[len("disc."):]: v for k, v in self.tensors.items() if k.startswith("disc.")}
        self.discs.load_state_dict(disc_sd, strict=True)

    # -- one phase --

    def _phase_setup(self, index: int) -> PhaseRun:
        return setup_phase(index, self.phases[index], self.model, self.discs, self.tc, self.d, self.device,
                           self.amp_dtype)

    def _set_train_mode(self, frozen: set[int]) -> None:
        self.model.train()
        self.model.freeze_stages(sorted(frozen), self.tc.frozen_stage_dropout)
        self.discs.train()

    def _cancelled(self) -> bool:
        if self.cancel is None:
            return False
        return distributed.any_rank(self.cancel.is_set(), self.d, self.device)

    def run(self) -> TrainResult:
        s = self.state or {}
        start_phase = int(s.get("next_phase", 0))
        start_epoch = int(s.get("next_epoch", 0))
        self._emit(RunStarted(
            out_dir=str(self.out_dir), device=str(self.device), world_size=self.d.world,
            phases=[{"phase": p.name, "stage": p.label, "epochs": p.epochs} for p in self.phases],
            total_epochs=self.total_epochs, resumed_at_epoch=self.global_epoch,
            data=self.report.summary(), target_scale=self.mcfg.normalization.target_scale,
        ))
        if self.d.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        cancelled = False
        for pi in range(start_phase, len(self.phases)):
            run = self._phase_setup(pi)
            p = run.phase
            first = start_epoch if pi == start_phase else 0
            if first > 0:
                self._load_optim(run)
            self._emit(StageStarted(p.label, p.name, p.epochs, first, run.lr))
            for epoch in range(first, p.epochs):
                done = self._epoch(run, epoch)
                if not done:
                    cancelled = True
                    break
            if cancelled:
                break
        seconds = self.elapsed_before + time.perf_counter() - self.t0
        model_path: Path | None
        if cancelled:
            model_path = self.out_dir / LAST_NAME if (self.out_dir / LAST_NAME).exists() else None
        else:
            model_path = self.out_dir / FINAL_NAME
            if self.d.main:
                save_checkpoint(model_path, self._plain_model(), self._metadata(len(self.phases) - 1, -1, seconds, final=True))
                self._emit(CheckpointSaved(str(model_path), "final", self.mcfg.n_stages, self.global_epoch))
        distributed.barrier(self.d)
        self._write_digest()
        self._emit(Finished("cancelled" if cancelled else "completed", str(model_path) if model_path else None,
                            self.global_epoch, seconds, dict(self.best)))
        if self._owns_group:
            distributed.destroy_process_group()
        return TrainResult(self.out_dir, model_path, dict(self.best_paths), self.global_epoch, cancelled,
                           seconds, self.history, self.exp)

    def _write_digest(self) -> None:
        """With ``DFVIEWER_RANK_DIGEST_DIR`` set, each rank writes a SHA-256 of its weights (tests)."""
        folder = os.environ.get("DFVIEWER_RANK_DIGEST_DIR")
        if not folder:
            return
        import hashlib

        digest = hashlib.sha256()
        for name, tensor in sorted({**self.model.state_dict(), **{f"d.{k}": v for k, v in self.discs.state_dict().items()}}.items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"rank{self.d.rank}.sha256").write_text(digest.hexdigest() + "\n")

    def _epoch(self, run: PhaseRun, epoch: int) -> bool:
        """One epoch of ``run``'s phase; False when cancelled."""
        t_epoch = time.perf_counter()
        p = run.phase
        torch.manual_seed(epoch_seed(self.tc.seed, self.d.rank, self.global_epoch))
        self.sampler.set_epoch(self.global_epoch)
        self.train_ds.epoch = self.global_epoch
        self._set_train_mode(run.frozen)
        sums: dict[str, float] = {}
        n_steps = 0
        global_steps = self.total_epochs * self.steps_per_epoch
        for step, (x, y, _valid) in enumerate(self.loader, start=1):
            if self._cancelled():
                return False
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            losses = train_step(run, self.discs, x, y, self.tc, self.amp_dtype)
            for name, v in losses.items():
                sums[name] = sums.get(name, 0.0) + v
            n_steps += 1
            self.global_step += 1
            self._emit(StepDone(p.label, epoch + 1, step, self.steps_per_epoch, self.global_step, global_steps, losses))
        distributed.broadcast_buffers(self.model, self.d, self.device)
        run.sch_g.step()
        run.sch_d.step()
        self.global_epoch += 1
        train_losses = {k: v / max(n_steps, 1) for k, v in sums.items()}
        train_losses = distributed.mean_over_ranks(train_losses, self.d, self.device)  # for the log
        if self.d.main:
            self._after_epoch(run, epoch, train_losses, t_epoch)
        distributed.barrier(self.d)
        return True

    # -- validation, checkpoints --

    def _after_epoch(self, run: PhaseRun, epoch: int, train_losses: dict[str, float], t_epoch: float) -> None:
        p, pi = run.phase, run.index
        val, preview = validate(self.model, self.val_ds, self.train_ds, run.upto, self.device, self.tc)
        seconds = self.elapsed_before + time.perf_counter() - self.t0
        stages_scored = [p.stage + 1] if p.name == "stage" else list(range(1, self.mcfg.n_stages + 1))
        record: dict[str, Any] = {"phase": p.name, "stage": p.label, "epoch": epoch + 1, "global_epoch": self.global_epoch,
                  "train": train_losses, "val": val, "lr": run.lr,
                  "seconds": time.perf_counter() - t_epoch}
        self.history.append(record)
        new_best = []
        for k in stages_scored:
            score = val.get(str(k), {}).get("mse") if val else None
            if score is None:
                score = train_losses.get("l1", math.inf)
            if str(k) not in self.best or score < self.best[str(k)]:
                self.best[str(k)] = float(score)
                new_best.append(k)
        last = self.out_dir / LAST_NAME
        save_checkpoint(last, self._plain_model(), self._metadata(pi, epoch, seconds))
        for k in new_best:
            path = best_stage_path(self.out_dir, k)
            meta = self._metadata(pi, epoch, seconds)
            meta["best_val_mse" if val else "best_train_l1"] = self.best[str(k)]
            save_checkpoint(path, first_stages(self._plain_model(), k), meta)
            self.best_paths[k] = path
        self._write_resume(run, epoch, seconds)
        self._emit(EpochDone(p.label, p.name, epoch + 1, p.epochs, self.global_epoch, self.total_epochs,
                             train_losses, val, record["lr"], record["seconds"], preview))
        self._emit(CheckpointSaved(str(last), "last", p.label, self.global_epoch))
        for k in new_best:
            self._emit(CheckpointSaved(str(self.best_paths[k]), "best", k, self.global_epoch))

    def _plain_model(self) -> Cascade:
        """The cascade with plain BatchNorm (SyncBatchNorm is a training-time device only)."""
        if any(isinstance(m, nn.SyncBatchNorm) for m in self.model.modules()):
            plain = Cascade(self.mcfg)
            plain.load_state_dict({k: v.detach().cpu() for k, v in self.model.state_dict().items()})
            return plain
        return self.model

    def _metadata(self, pi: int, epoch: int, seconds: float, final: bool = False) -> dict[str, Any]:
        p = self.phases[pi]
        return {
            "kind": "final" if final else "epoch",
            "global_epoch": self.global_epoch,
            "phase": p.name,
            "stage": p.label,
            "epoch": epoch + 1 if epoch >= 0 else p.epochs,
            "working_size": self.mcfg.working_size,
            "data": {k: v for k, v in self.report.summary().items() if k != "problems"},
            "train_config": to_dict(self.tc),
            "phase_epochs": [ph.epochs for ph in self.phases],
            "world_size": self.d.world,
            "device": str(self.device),
            "timings": {"seconds": round(seconds, 3), "epochs": self.global_epoch},
            "best": dict(self.best),
        }

    def _write_resume(self, run: PhaseRun, epoch: int, seconds: float) -> None:
        p, pi = run.phase, run.index
        next_phase, next_epoch = (pi, epoch + 1) if epoch + 1 < p.epochs else (pi + 1, 0)
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self._plain_model().state_dict().items()}
        tensors.update({f"disc.{k}": v.detach().cpu().contiguous() for k, v in self.discs.state_dict().items()})
        skeletons = {}
        for name, obj in (("opt_g", run.opt_g), ("opt_d", run.opt_d)):
            t, skel = flatten_state(name, obj.state_dict())
            tensors.update(t)
            skeletons[name] = skel
        write_resume(self.out_dir, tensors, {
            "experiment": to_dict(self.exp),
            "phase_epochs": [ph.epochs for ph in self.phases],
            "phase_of_optimizers": pi,
            "next_phase": next_phase,
            "next_epoch": next_epoch,
            "global_epoch": self.global_epoch,
            "global_step": self.global_step,
            "best": self.best,
            "history": self.history,
            "seconds": seconds,
            "world_size": self.d.world,
            "optimizers": skeletons,
            "schedulers": [run.sch_g.state_dict(), run.sch_d.state_dict()],
            "scalers": [run.scaler_g.state_dict(), run.scaler_d.state_dict()],
            "data": {k: v for k, v in self.report.summary().items() if k != "problems"},
        })

    def _load_optim(self, run: PhaseRun) -> None:
        s = self.state
        assert s is not None  # only called when resuming
        for name, opt in (("opt_g", run.opt_g), ("opt_d", run.opt_d)):
            sd = unflatten_state(s["optimizers"][name], self.tensors)
            sd["state"] = {int(k): v for k, v in sd["state"].items()}
            opt.load_state_dict(sd)
        for sch, sd in zip((run.sch_g, run.sch_d), s["schedulers"]):
            sch.load_state_dict(sd)
        for sc, sd in zip((run.scaler_g, run.scaler_d), s["scalers"]):
            if sd:
                sc.load_state_dict(sd)

def train(
    data: str | Path,
    experiment: ExperimentConfig | None,
    out_dir: str | Path,
    *,
    resume: bool = False,
    device: str = "auto",
    callback: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
) -> TrainResult:
    """Train the cascade progressively on the pairs in ``data``; write checkpoints to ``out_dir``.

    ``experiment`` None: the ``fast`` preset (or, with ``resume``, the saved settings).
    ``callback`` receives :class:`Event` objects (rank 0 only). A set ``cancel`` event stops
    at the next step; the last complete epoch's checkpoint is kept and the result says
    ``cancelled``. Under ``torchrun`` every rank calls this and trains with DDP.
    """
    trainer = _Trainer(data, experiment, out_dir, resume, device, callback, cancel)
    return trainer.run()


__all__ = [  # the events and distributed_env are re-exported for the CLI and scripts
    "FINAL_NAME", "LAST_NAME", "RESUME_NAME", "CheckpointSaved", "EpochDone", "Event", "Finished", "PhaseRun",
    "RunStarted", "StageStarted", "StepDone", "TrainResult", "TrainingError", "distributed_env", "event_from_json",
    "train",
]
