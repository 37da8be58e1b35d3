"""``dfviewer train``: progressive training on a paired folder, also under ``torchrun``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dfviewer.cli import options
from dfviewer.cli.interrupt import stop_on_signals
from dfviewer.cli.text import is_terminal
from dfviewer.core import sizes
from dfviewer.core.config import ExperimentConfig, load_experiment, preset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="paired dataset: a folder with manifest.csv or attenuation/ + darkfield/, or a manifest .csv")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for checkpoints (last, best per stage, final)")
    parser.add_argument("--preset", choices=("fast", "paper"), default=None, help="named settings (default: fast)")
    parser.add_argument("--config", metavar="JSON", help="experiment settings as JSON (model and train sections)")
    parser.add_argument("--epochs", type=int, metavar="N",
                        help="epochs of each stage (3 stages x --epochs 5 = 15 epochs in all; default: the preset's)")
    parser.add_argument("--batch-size", type=options.bounded(1, sizes.MAX_TRAIN_BATCH), metavar="N",
                        help=f"images per training step, 1 to {sizes.MAX_TRAIN_BATCH} (default: the preset's, 4 for "
                             "fast, 2 for paper)")
    parser.add_argument("--lr", type=float, metavar="X", help="generator learning rate (default: the preset's)")
    parser.add_argument("--working-size", type=options.working_size, metavar="N",
                        help=f"training resolution, longer side in pixels, {options.WORKING_SIZE_RANGE} and a multiple "
                             "of 2 ** depth (default: the preset's)")
    parser.add_argument("--stages", type=int, metavar="N", help="number of stages in the cascade (default: the preset's, 3)")
    parser.add_argument("--finetune-epochs", type=int, metavar="N", help="end-to-end fine-tuning epochs after the stages (default: the preset's, 0)")
    parser.add_argument("--seed", type=int, metavar="N",
                        help="seed of the initial weights, the shuffling, the augmentations and dropout (default 0)")
    parser.add_argument("--amp", choices=("auto", "bfloat16", "off"), default=None,
                        help="mixed precision: auto (GPUs only, the default), bfloat16 (also on the CPU), off (float32)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    options.add_device(parser, "; under torchrun: one GPU per process")
    options.add_threads(parser, ", shared among torchrun's local processes; a number given is each process's")
    parser.add_argument("--events-json", action="store_true",
                        help="print one JSON event per line on stdout instead of a progress bar")


def _overrides(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    model: dict[str, Any] = {}
    train: dict[str, Any] = {}
    for flag, section, name in (
        ("epochs", train, "epochs_per_stage"), ("batch_size", train, "batch_size"), ("lr", train, "lr"),
        ("finetune_epochs", train, "finetune_epochs"), ("seed", train, "seed"), ("amp", train, "amp"),
        ("working_size", model, "working_size"), ("stages", model, "n_stages"),
    ):
        value = getattr(args, flag)
        if value is not None:
            section[name] = value
    return model, train


def build_experiment(args: argparse.Namespace) -> ExperimentConfig | None:
    """The experiment from --preset, --config and flags (flags win); None to resume as saved."""
    model, train = _overrides(args)
    if args.resume and not (args.preset or args.config or model or train):
        return None
    from dfviewer.core.config import experiment_from_dict, model_config_from_dict, to_dict, train_config_from_dict

    if args.config:
        exp = load_experiment(args.config)
        if args.preset:  # the JSON's settings on top of the named preset (unless it names its own)
            data = json.loads(Path(args.config).read_text(encoding="utf-8"))
            if "preset" not in data and "preset" not in data.get("model", {}):
                exp = experiment_from_dict({**data, "preset": args.preset})
    else:
        exp = preset(args.preset or "fast")
    m = model_config_from_dict({**to_dict(exp.model), **model})
    t = train_config_from_dict({**to_dict(exp.train), **train})
    return ExperimentConfig(model=m, train=t)


class _Progress:
    """A one-line progress bar on a terminal, one line per epoch otherwise (stderr)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr  # looked up now: sys.stderr may have been replaced since import
        self.tty = is_terminal(stream)
        self.t0 = time.perf_counter()

    def __call__(self, event) -> None:
        from dfviewer.cli.text import plan_text, plural
        from dfviewer.core import training_events as tr

        w = self.stream
        if isinstance(event, tr.RunStarted):
            d = event.data["pairs"]
            print(f"training on {event.device} ({plural(event.world_size, 'process', 'processes')}): "
                  f"{d['train']} train / {d['val']} val pairs, {plan_text(event.phases)}, "
                  f"target scale {event.target_scale:.4g}", file=w)
            for problem in event.data.get("problems", []):
                print(f"note: {problem['case'] + ': ' if problem['case'] else ''}{problem['reason']}", file=w)
            if event.resumed_at_epoch:
                print(f"resuming after epoch {event.resumed_at_epoch}", file=w)
        elif isinstance(event, tr.StageStarted):
            what = f"stage {event.stage}" if event.phase == "stage" else "end-to-end fine-tuning"
            print(f"{what}: {plural(event.epochs, 'epoch')}, lr {event.lr:.3g}", file=w)
        elif isinstance(event, tr.StepDone) and self.tty:
            frac = event.global_step / max(event.global_steps, 1)
            bar = "#" * int(30 * frac)
            elapsed = time.perf_counter() - self.t0
            w.write(f"\r[{bar:<30}] {100 * frac:5.1f}% epoch {event.epoch} step {event.step}/{event.steps} "
                    f"loss {event.losses['g_total']:.4f} {elapsed:6.0f}s")
            w.flush()
        elif isinstance(event, tr.EpochDone):
            if self.tty:
                w.write("\r" + " " * 100 + "\r")
            val = " ".join(f"s{k}: mse {v['mse']:.4g} psnr {v['psnr']:.2f} ssim {v.get('ssim', float('nan')):.3f}"
                           for k, v in event.val.items())
            print(f"epoch {event.global_epoch}/{event.total_epochs} (stage {event.stage or 'all'}, "
                  f"{event.epoch}/{event.epochs}) l1 {event.train_losses.get('l1', 0):.4f} "
                  f"{val} [{event.seconds:.1f}s]", file=w)
        elif isinstance(event, tr.Finished):
            if event.status == "completed":
                print(f"done in {event.seconds:.0f}s: wrote {event.model_path}", file=w)
            else:
                print(f"cancelled; the last complete epoch is in {event.model_path} (continue with --resume)", file=w)


def run(args: argparse.Namespace) -> int:
    from dfviewer.core.predictors import export_after_training, require_torch
    from dfviewer.threads import CpuSample, apply_threads, describe, local_processes

    require_torch("training")

    start = CpuSample.now()  # the free cores are measured over the start-up, at no extra wait
    from dfviewer.core.training import distributed_env, train

    experiment = build_experiment(args)
    main_rank = distributed_env().main
    # the training loop runs on this thread; torchrun would give every rank one thread (OMP_NUM_THREADS=1)
    threads = apply_threads(args.threads, start, processes=local_processes())
    if main_rank:
        each = " each" if local_processes() > 1 else ""
        print(f"dfviewer train: {describe(threads, args.threads)}{each}", file=sys.stderr)
    callback: Callable[[Any], None] | None
    if args.events_json:
        def print_event(event: Any) -> None:
            sys.stdout.write(event.to_json() + "\n")
            sys.stdout.flush()
        callback = print_event
    else:
        callback = _Progress() if main_rank else None

    def on_first_signal() -> None:
        if main_rank and not args.events_json:
            print("\nstopping after this step (again to abort)", file=sys.stderr)

    with stop_on_signals(threading.Event(), on_first_signal) as cancel:
        result = train(args.data, experiment, args.out, resume=args.resume, device=args.device,
                       callback=callback, cancel=cancel)
    if main_rank and not result.cancelled and result.model_path is not None:
        # the viewer, predict and generate run the graph; a failure here loses no training
        print(f"dfviewer train: {export_after_training(result.model_path)}", file=sys.stderr)
    return 130 if result.cancelled else 0


if __name__ == "__main__":  # ``python -m dfviewer.cli.train`` (e.g. under torchrun -m)
    from dfviewer.cli.main import main

    sys.exit(main(["train", *sys.argv[1:]]))
