"""Inference speed of the ``fast`` and ``paper`` presets on a 512 x 512 input.

Run: ``python tests/benchmarks/inference.py [--device cpu] [--mc 20] [--paper-mc 2]``.

Both models have random weights (speed does not depend on the weights) with BatchNorm folded
into the convolutions, as :meth:`Predictor.from_checkpoint` loads a model. Both work at
512 x 512 (no downsampling). For each preset it prints the time of one deterministic pass
through all three stages (the preview), the time of the full result (``Predictor.predict``
with T = 20: preview plus T MC-dropout samples, three stages, maps mapped back once), the
time of the same work streamed the viewer's way (``predict_stream``, every running estimate
built as it arrives), and the peak memory. The paper-size full result is too slow for a CPU,
so it times ``--paper-mc`` samples and scales the per-sample time linearly to T.

Memory: the peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) of a fresh
child process per preset, reported as the increase over the same process just before the
prediction (model built, input made), and as the absolute peak. tracemalloc would miss
torch's allocations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

SIZE = 512
TARGETS = {"full_s": 10.0, "deterministic_s": 1.0, "ratio": 40.0}


def _maxrss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KiB on Linux


def measure(preset_name: str, mc: int, device: str, repeats: int) -> dict:
    """Run in a child process: time the preview and the MC samples of one preset."""
    import numpy as np
    import torch

    from dfviewer.core.config import preset
    from dfviewer.core.fold import fold_batchnorm
    from dfviewer.core.inference import Predictor
    from dfviewer.core.network import Cascade

    torch.manual_seed(0)
    cfg = preset(preset_name).model
    model = Cascade(cfg)
    params_per_stage = sum(p.numel() for p in model.stages[0].parameters()) / 1e6
    fold_batchnorm(model)  # in place, as Predictor.from_checkpoint does
    predictor = Predictor(model, cfg, device=device, fold_batchnorm=False)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    image = (np.sin(xx / 40) * np.cos(yy / 55) + 0.05 * rng.standard_normal((SIZE, SIZE))).astype(np.float32)
    # warm-up (allocator, kernel selection) of the deterministic and the MC-dropout paths
    predictor.predict(image, mc_samples=1, working_size=SIZE)
    rss_before = _maxrss_mib()

    deterministic = []
    for _ in range(repeats):
        start = time.perf_counter()
        predictor.predict(image, mc_samples=0, working_size=SIZE)
        deterministic.append(time.perf_counter() - start)

    # The full result as predict() returns it (what the CLI, evaluate and batch jobs call).
    fulls = []
    for _ in range(max(1, repeats - 1)):
        start = time.perf_counter()
        predictor.predict(image, mc_samples=mc, working_size=SIZE, seed=0)
        fulls.append(time.perf_counter() - start)
    # The viewer's way: stream, and build every running estimate as it arrives.
    streams = []
    for _ in range(max(1, repeats - 1)):
        start = time.perf_counter()
        for update in predictor.predict_stream(image, mc_samples=mc, working_size=SIZE, seed=0):
            _ = update.stages  # force the maps to be built, as a viewer would
        streams.append(time.perf_counter() - start)
    return {
        "preset": preset_name,
        "params_per_stage_M": params_per_stage,
        "deterministic_s": min(deterministic),
        "per_sample_s": (min(fulls) - min(deterministic)) / mc,
        "measured_mc": mc,
        "measured_full_s": min(fulls),
        "measured_stream_s": min(streams),
        "peak_rss_increase_mib": _maxrss_mib() - rss_before,
        "peak_rss_mib": _maxrss_mib(),
        "device": str(predictor.device),
        "threads": torch.get_num_threads(),
    }


def run_child(preset_name: str, mc: int, device: str, repeats: int) -> dict:
    cmd = [sys.executable, __file__, "--child", preset_name, "--mc", str(mc), "--device", device,
           "--repeats", str(repeats)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mc", type=int, default=20, help="T of the full result (default 20)")
    parser.add_argument("--paper-mc", type=int, default=2, help="samples actually timed for paper (default 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fast-only", action="store_true", help="skip the slow paper preset (no ratio)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.mc, args.device, args.repeats)))
        return 0

    load = os.getloadavg()
    print(f"dfviewer inference benchmark: {SIZE} x {SIZE} input, working size {SIZE}, 3 stages, "
          f"random weights, device {args.device}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    fast = run_child("fast", args.mc, args.device, args.repeats)
    paper = None if args.fast_only else run_child("paper", args.paper_mc, args.device, 1)
    rows = [r for r in (fast, paper) if r is not None]
    for r in rows:
        r["scaled"] = r["measured_mc"] != args.mc
        if r["scaled"]:
            r["full_s"] = r["deterministic_s"] + r["per_sample_s"] * args.mc
        else:
            r["full_s"] = r["measured_full_s"]

    print()
    print(f"| preset | params/stage | deterministic 3 stages | one MC sample | full result (T = {args.mc}) "
          "| streamed, every update built | peak RSS increase | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        note = f" (scaled from T = {r['measured_mc']})" if r["scaled"] else ""
        stream = "-" if r["scaled"] else f"{r['measured_stream_s']:.1f} s"
        print(f"| {r['preset']} | {r['params_per_stage_M']:.2f} M | {r['deterministic_s']:.2f} s "
              f"| {r['per_sample_s']:.2f} s | {r['full_s']:.1f} s{note} | {stream} "
              f"| {r['peak_rss_increase_mib']:.0f} MiB | {r['peak_rss_mib']:.0f} MiB |")
    print()
    checks = [
        ("fast full result", fast["full_s"] <= TARGETS["full_s"], f"<= {TARGETS['full_s']:.0f} s"),
        ("fast deterministic pass", fast["deterministic_s"] <= TARGETS["deterministic_s"],
         f"<= {TARGETS['deterministic_s']:.0f} s"),
    ]
    if paper is not None:
        ratio_full = paper["full_s"] / fast["full_s"]
        ratio_det = paper["deterministic_s"] / fast["deterministic_s"]
        checks.append(("fast vs paper (full)", ratio_full >= TARGETS["ratio"], f">= {TARGETS['ratio']:.0f}x"))
        print(f"paper / fast: full result {ratio_full:.0f}x, deterministic pass {ratio_det:.0f}x")
        print(f"paper full result: preview + {paper['measured_mc']} samples timed "
              f"({paper['measured_full_s']:.1f} s), per-sample time scaled linearly to T = {args.mc}")
    for name, ok, target in checks:
        print(f"target {name} {target}: {'met' if ok else 'MISSED'}")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          "(other processes share the CPU; a high load inflates the times)")
    print("memory: ru_maxrss of a fresh child process per preset (tracemalloc misses torch's allocations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
