"""``dfviewer generate`` against per-image loops (``dfviewer predict``; the torch Predictor), on phantom radiographs.

Run: ``python tests/benchmarks/generate.py [--n 200] [--quick] [--paired K]``, or
``python tests/benchmarks/generate.py --vs-torch K [--n 24] [--size 1024]`` (see below).

- **--vs-torch K**: in this one process, K rounds alternating on the same images (``--size`` px,
  default 1024; ``--distinct`` cases cycled) (a) the reference: a per-image loop of the torch
  Predictor in eager mode (``read_radiograph`` then ``Predictor.from_checkpoint(demo).predict(image,
  mc_samples=20)``, all three stages, ``torch.set_num_threads(--threads)``) and (b) ``dfviewer
  generate`` on ONNX Runtime (``main()`` called here; ``--threads``, ``--workers`` reader processes,
  ``--batch-size``, T = 20, stage 3 mean, aleatoric and epistemic as float16 at the working size
  256); prints both in images/s and the ratio of each round. Model loading is inside both times.

Data: ``--n`` phantom radiographs at 512 x 512, alternately DICOM (DX, 16-bit) and 16-bit PNG
(``--distinct`` different simulated cases, cycled: the phantom takes about a second per 512 px
case). Model: the bundled demo model (working size 256), T = 20.

- **predict**: ``dfviewer predict DIR --out OUT --mc 20 --stages 3`` (today's loop: read, predict
  one image at a time, six float32 TIFFs at the input's 512 x 512 per image), with torch's default
  threads (one per core) and, in ``--paired``, also with one thread (``predict, 1 thread``).
- **generate**: ``dfviewer generate DIR --out STORE --maps mean,epistemic --stages 3 --dtype float16
  --size 256 --mc 20`` for every ``--batch-size`` in 1, 4, 16 and ``--workers`` in 0, 1, 2.

Each run is a fresh child process; the time is that of the command's own work (``main()``
called in the child, imports excluded), images/s = n / time. Peak RSS: the child's VmHWM (the
main process; reader processes are separate). Memory flat:
the main process's RSS after the 20th image and after the last. Bytes per image: the store's
compressed map bytes (index ``stored_bytes``) and the whole store folder / n; for predict, the
TIFFs / n. ``--paired K`` alternates predict and generate (batch 4, workers 1) K times and prints
the ratio of each round, since a shared machine's speed drifts between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SIZE = 512
GENERATE = ["--maps", "mean,epistemic", "--stages", "3", "--dtype", "float16", "--size", "256", "--mc", "20"]


def make_data(folder: Path, n: int, distinct: int, size: int = SIZE) -> None:
    import numpy as np
    from PIL import Image

    from dfviewer.io import write_dx_dicom
    from dfviewer.phantom import PhantomConfig, simulate_case

    folder.mkdir(parents=True, exist_ok=True)
    cfg = PhantomConfig(size=size)
    cases = [simulate_case(2026, i, cfg).attenuation for i in range(min(n, distinct))]
    for i in range(n):
        image = cases[i % len(cases)]
        if i % 2 == 0:
            write_dx_dicom(folder / f"case{i:04d}.dcm", image, patient_id=f"P{i:04d}")
        else:
            scaled = (image - image.min()) / (np.ptp(image) + 1e-6)
            Image.fromarray((scaled * 65535).astype(np.uint16)).save(folder / f"case{i:04d}.png")


def _status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # MiB
    return float("nan")


def child(kind: str, data: str, out: str, extra: list[str]) -> dict:
    """In a fresh process: run one command, return its time and memory."""
    from dfviewer.cli.main import main

    rss: dict[int, float] = {}
    if kind == "generate":
        from dfviewer.core import archive_job

        original, release = archive_job._run_batch, archive_job._release_free_memory
        seen = [0]

        def watched(predictor, batch, options, size, writer, summary, *rest):
            original(predictor, batch, options, size, writer, summary, *rest)
            seen[0] = summary.done + summary.failed

        def released():  # RSS after the batch's memory went back (what the next batch starts from)
            release()
            rss[seen[0]] = _status("VmRSS")

        archive_job._run_batch = watched
        archive_job._release_free_memory = released
        args = ["generate", data, "--out", out, *GENERATE, *extra]
    else:
        if kind == "predict-1t":
            torch.set_num_threads(1)
        args = ["predict", data, "--out", out, "--mc", "20", "--stages", "3", "--seed", "0", *extra]
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the commands' own output is not measured
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = devnull
    start = time.perf_counter()
    try:
        code = main(args)
    finally:
        sys.stdout, sys.stderr = stdout, stderr
    seconds = time.perf_counter() - start
    counts = sorted(rss)
    at20 = next((rss[c] for c in counts if c >= 20), None)
    return {"code": code, "seconds": seconds, "peak_rss_mib": _status("VmHWM"),
            "rss_after_20": at20, "rss_at_end": rss[counts[-1]] if counts else None, "images_seen": counts[-1] if counts else None}


def run_child(kind: str, data: Path, out: Path, extra: list[str]) -> dict:
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, __file__, "--child", kind, "--data", str(data), "--out", str(out), "--", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed: {proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    n = len([p for p in data.iterdir() if p.is_file()])
    result["n"] = n
    result["images_per_s"] = n / result["seconds"]
    files = [p for p in out.rglob("*") if p.is_file()]
    result["bytes_per_image_on_disk"] = sum(p.stat().st_size for p in files) / n
    if kind == "generate":
        import pyarrow.parquet as pq

        rows = pq.read_table(out / "index.parquet").to_pylist()
        done = [r for r in rows if r["status"] == "done"]
        result["map_bytes_per_image"] = sum(r["stored_bytes"] for r in done) / max(1, len(done))
        result["done"] = len(done)
    return result


def vs_torch(data: Path, work: Path, rounds: int, threads: int, workers: int, batch: int) -> None:
    """Paired rounds in this process: the torch Predictor's per-image loop, then ``dfviewer generate``."""
    from dfviewer.cli.main import main as cli
    from dfviewer.core.inference import Predictor
    from dfviewer.io import read_radiograph
    from dfviewer.resources import resource_path

    model = resource_path("models", "demo.safetensors")
    files = sorted(p for p in data.iterdir() if p.is_file())
    n = len(files)
    print(f"| round | torch Predictor loop images/s (threads {threads}) | generate images/s (threads {threads}, "
          f"{workers} readers, batch {batch}) | generate / torch |")
    print("| --- | --- | --- | --- |")
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the command's own output is not measured
    for k in range(1, rounds + 1):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        p = Predictor.from_checkpoint(model, device="cpu")
        for f in files:
            p.predict(read_radiograph(f).pixels, mc_samples=20, seed=0)
        reference = n / (time.perf_counter() - start)
        del p
        store = work / "store"
        shutil.rmtree(store, ignore_errors=True)
        stderr = sys.stderr
        sys.stderr = devnull
        start = time.perf_counter()
        try:
            code = cli(["generate", str(data), "--out", str(store), "--model", str(model), "--mc", "20",
                        "--stages", "3", "--dtype", "float16", "--threads", str(threads), "--workers", str(workers),
                        "--batch-size", str(batch), "--device", "cpu"])
        finally:
            sys.stderr = stderr
        runtime = n / (time.perf_counter() - start)
        if code != 0:
            raise SystemExit(f"generate ended with {code}")
        print(f"| {k} | {reference:.3f} | {runtime:.3f} | {runtime / reference:.2f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--distinct", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="20 images")
    parser.add_argument("--paired", type=int, default=0, metavar="K", help="only K alternating predict / generate rounds")
    parser.add_argument("--batch-sizes", default="1,4,16")
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--vs-torch", type=int, default=0, metavar="K",
                        help="only K paired rounds: the torch Predictor's per-image loop against generate")
    parser.add_argument("--size", type=int, default=SIZE, help="the radiographs' side in pixels")
    parser.add_argument("--threads", type=int, default=2, help="--vs-torch: compute threads of both")
    parser.add_argument("--readers", type=int, default=1, help="--vs-torch: generate's --workers")
    parser.add_argument("--batch", type=int, default=4, help="--vs-torch: generate's --batch-size")
    parser.add_argument("--baseline", default="predict", choices=("predict", "predict-1t"),
                        help="the matrix's predict run: default threads or one thread")
    parser.add_argument("--no-baseline", action="store_true", help="generate runs only (e.g. for the memory figures)")
    parser.add_argument("--data", type=Path, help="keep the radiographs here (reused when present)")
    parser.add_argument("--child", choices=("predict", "predict-1t", "generate"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, str(args.data), args.out, args.extra)))
        return
    n = 20 if args.quick else args.n
    work = Path(tempfile.mkdtemp(prefix="dfv-generate-bench-"))
    data = args.data or work / "data"
    if not data.exists() or len(list(data.iterdir())) != n:
        if data.exists():
            shutil.rmtree(data)
        t = time.perf_counter()
        make_data(data, n, args.distinct, args.size)
        print(f"made {n} phantom radiographs of {args.size} px in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"n = {n}, T = 20, images of {args.size} px")
    if args.vs_torch:
        vs_torch(data, work, args.vs_torch, args.threads, args.readers, args.batch)
        shutil.rmtree(work, ignore_errors=True)
        return
    print(f"# generate {' '.join(GENERATE)}")
    if args.paired:
        print("| round | predict images/s | predict, 1 thread | generate images/s (batch 4, workers 1) | "
              "ratio to predict | ratio to predict, 1 thread |")
        print("| --- | --- | --- | --- | --- | --- |")
        for k in range(1, args.paired + 1):
            base = run_child("predict", data, work / "predict", [])
            one = run_child("predict-1t", data, work / "predict", [])
            gen = run_child("generate", data, work / "store", ["--batch-size", "4", "--workers", "1"])
            print(f"| {k} | {base['images_per_s']:.3f} | {one['images_per_s']:.3f} | {gen['images_per_s']:.3f} | "
                  f"{gen['images_per_s'] / base['images_per_s']:.2f}x | {gen['images_per_s'] / one['images_per_s']:.2f}x |",
                  flush=True)
        return
    base = run_child(args.baseline, data, work / "predict", []) if not args.no_baseline else {"images_per_s": float("nan"),
                                                                                               "peak_rss_mib": float("nan"),
                                                                                               "bytes_per_image_on_disk": float("nan")}
    print("| run | batch | workers | images/s | x predict | peak RSS MiB | RSS after 20 / at end MiB | "
          "map MB/image | store MB/image |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {args.baseline} | 1 | 0 | {base['images_per_s']:.3f} | 1.00 | {base['peak_rss_mib']:.0f} | - | - | "
          f"{base['bytes_per_image_on_disk'] / 1e6:.3f} |", flush=True)
    for bs in [int(x) for x in args.batch_sizes.split(",")]:
        for w in [int(x) for x in args.workers.split(",")]:
            r = run_child("generate", data, work / "store", ["--batch-size", str(bs), "--workers", str(w)])
            flat = (f"{r['rss_after_20']:.0f} / {r['rss_at_end']:.0f}" if r["rss_after_20"] else "-")
            print(f"| generate | {bs} | {w} | {r['images_per_s']:.3f} | {r['images_per_s'] / base['images_per_s']:.2f} | "
                  f"{r['peak_rss_mib']:.0f} | {flat} | {r['map_bytes_per_image'] / 1e6:.3f} | "
                  f"{r['bytes_per_image_on_disk'] / 1e6:.3f} |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
