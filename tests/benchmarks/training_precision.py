"""Training step time in float32 against bfloat16 autocast (``TrainConfig.amp``), paired.

Usage: ``OMP_NUM_THREADS=1 python tests/benchmarks/training_precision.py [--config scripts/demo_config.json]
[--size 256] [--stages 1 3] [--warmup 3] [--steps 10] [--threads 1]``. Builds the config's
cascade and discriminators twice from the same seed (one per precision) and times whole
training steps (discriminator + generator update, :func:`dfviewer.core.training_step.train_step`)
of the given stages, float32 and bfloat16 alternating so that a change of machine load hits
both alike. Prints the median step time of each and their ratio. With ``--data DIR`` (a paired
dataset) it also times the loading of training batches with the config's augmentation and
rendering, which autocast does not speed up: a training epoch costs steps plus loading.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="scripts/demo_config.json", help="experiment JSON (the demo model's)")
    parser.add_argument("--size", type=int, default=256, help="working size in pixels")
    parser.add_argument("--stages", type=int, nargs="+", default=[1, 3], help="1-based stages to time")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", help="a paired dataset whose training batches to time as well")
    args = parser.parse_args()

    import dataclasses

    import torch
    from torch import nn

    from dfviewer.core.config import load_experiment
    from dfviewer.core.distributed import distributed_env
    from dfviewer.core.network import Cascade, PatchDiscriminator
    from dfviewer.core.training_phase import Phase, setup_phase
    from dfviewer.core.training_step import amp_dtype, train_step

    torch.set_num_threads(args.threads)
    exp = load_experiment(args.config)
    mc = dataclasses.replace(exp.model, working_size=args.size)
    tc = exp.train
    device = torch.device("cpu")
    env = distributed_env()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load {os.getloadavg()}, "
          f"{args.config} at {args.size} px, batch {tc.batch_size}")

    def build(stage: int, mode: str):
        torch.manual_seed(tc.seed)
        model = Cascade(mc)
        discs = nn.ModuleList(PatchDiscriminator(2, tc.discriminator_width, tc.discriminator_layers)
                              for _ in range(mc.n_stages))
        dtype = amp_dtype(mode, device)
        run = setup_phase(0, Phase("stage", stage - 1, tc.epochs_per_stage), model, discs, tc, env, device, dtype)
        model.train()
        model.freeze_stages(sorted(run.frozen), tc.frozen_stage_dropout)
        discs.train()
        return run, discs, dtype

    gen = torch.Generator().manual_seed(1)
    x = torch.rand(tc.batch_size, mc.in_channels, args.size, args.size, generator=gen)
    y = torch.rand(tc.batch_size, 1, args.size, args.size, generator=gen) * 0.5
    for stage in args.stages:
        runs = {mode: build(stage, mode) for mode in ("off", "bfloat16")}
        times: dict[str, list[float]] = {mode: [] for mode in runs}
        for i in range(args.warmup + args.steps):
            for mode, (run, discs, dtype) in runs.items():
                t0 = time.perf_counter()
                train_step(run, discs, x, y, tc, dtype)
                if i >= args.warmup:
                    times[mode].append(time.perf_counter() - t0)
        f32, bf16 = (statistics.median(times[m]) for m in ("off", "bfloat16"))
        print(f"stage {stage}: float32 {f32:.3f} s/step, bfloat16 {bf16:.3f} s/step, "
              f"bfloat16 / float32 = {bf16 / f32:.2f} (medians of {args.steps} steps each, alternating)")
    if args.data:
        from dfviewer.core.data import Augment, PairedDataset
        from dfviewer.core.dataset_check import check_dataset

        cache: dict = {}
        pairs = check_dataset(args.data, cache).split("train")
        aug = Augment(tc.augment_rotation_deg, tc.augment_flip, tc.augment_contrast, tc.augment_zoom,
                      tc.augment_shift, tc.render_input)
        ds = PairedDataset(pairs, mc.normalization, mc.working_size, aug, tc.seed, cache)
        n = min(len(ds), tc.batch_size * args.steps)
        for i in range(n):  # the first pass reads the files into the cache, as the first epoch does
            ds[i]
        t0 = time.perf_counter()
        for i in range(n):
            ds[i]
        per_batch = (time.perf_counter() - t0) / n * tc.batch_size
        print(f"loading (augmentation + rendering {tc.render_input}): {per_batch:.3f} s per batch of "
              f"{tc.batch_size} ({n} images of {args.data}, cached)")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
