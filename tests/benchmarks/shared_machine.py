"""``dfviewer predict`` on a quiet machine and beside busy processes: the thread policy's benchmark.

Run: ``python tests/benchmarks/shared_machine.py [--competitors 4] [--mc 20] [--repeats 1]``.

Each measurement is the wall time of one whole ``dfviewer predict`` process (start-up, model
loading, T = 20, writing the TIFFs) on a 1024 x 1024 copy of pydicom-data's RG1 chest CR, as a
user waits for it. It runs idle, then beside ``--competitors`` pure-Python busy loops that this
script starts before and kills after, for three ways of running the threads:

* ``torch default``: what dfviewer did before the policy, torch's own choice: one thread per
  allowed core, idle threads spinning libgomp's default 300000 turns before they sleep
  (``GOMP_SPINCOUNT=300000`` with ``--threads`` = the allowed cores);
* ``active wait``: the same threads spinning until the next operation (``OMP_WAIT_POLICY=ACTIVE``);
* ``policy``: dfviewer's default now (passive wait, threads from the cores that are free).

It prints idle, loaded and their ratio for each, and the threads each run chose. Target: the
policy's loaded time at most 4x its idle time with four competitors on a 2-core machine (a fair
share of two cores among five busy processes is 2.5x of one core's speed). Other processes on
the machine inflate the loaded and idle times alike; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZE = 1024
TARGET_RATIO = 4.0
BUSY_LOOP = "while True:\n    pass\n"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def make_input(folder: Path) -> Path:
    """RG1 (a 1955 x 1841 chest CR) resampled to SIZE x SIZE, written as a DICOM beside its metadata."""
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("RG1_UNCR.dcm"))
    pixels = ds.pixel_array
    rows = np.linspace(0, pixels.shape[0] - 1, SIZE).round().astype(int)
    cols = np.linspace(0, pixels.shape[1] - 1, SIZE).round().astype(int)
    small = np.ascontiguousarray(pixels[np.ix_(rows, cols)])
    ds.Rows, ds.Columns = SIZE, SIZE
    ds.PixelData = small.astype(pixels.dtype).tobytes()
    path = folder / "RG1_1024.dcm"
    ds.save_as(path)
    return path


#: name -> (extra environment, --threads value or None: the command's own choice)
def configurations() -> dict[str, tuple[dict[str, str], int | None]]:
    cores = _cores()
    return {
        "torch default": ({"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "300000"}, cores),
        "active wait": ({"OMP_WAIT_POLICY": "ACTIVE"}, cores),
        "policy": ({}, None),
    }


def run_predict(image: Path, out: Path, mc: int, env_extra: dict[str, str], threads: int | None) -> tuple[float, str]:
    """Wall seconds of one ``dfviewer predict`` process, and the threads it reported."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    env.update(env_extra)
    cmd = [sys.executable, "-m", "dfviewer", "predict", str(image), "--out", str(out), "--mc", str(mc),
           "--device", "cpu"]
    if threads:
        cmd += ["--threads", str(threads)]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"dfviewer predict failed ({done.returncode}):\n{done.stderr}")
    found = re.search(r"(\d+) threads? \((automatic|as asked)\)", done.stderr)
    return seconds, found.group(1) if found else "?"


def start_competitors(n: int) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(n)]
    time.sleep(1.0)  # let them reach their loops (and the scheduler see them)
    return procs


def stop_competitors(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competitors", type=int, default=4, help="busy processes beside it (default 4)")
    parser.add_argument("--mc", type=int, default=20, help="MC-dropout samples (default 20)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per measurement; the fastest counts")
    parser.add_argument("--only", choices=list(configurations()), action="append",
                        help="measure only this configuration (repeatable)")
    args = parser.parse_args()

    load = os.getloadavg()
    print(f"dfviewer shared-machine benchmark: predict of a {SIZE} x {SIZE} CR (RG1), T = {args.mc}, "
          f"device cpu, {args.competitors} busy competitor processes")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {_cores()} allowed; "
          f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="dfv-shared-") as tmp:
        folder = Path(tmp)
        image = make_input(folder)
        for name, (env_extra, threads) in configurations().items():
            if args.only and name not in args.only:
                continue
            out = folder / name.replace(" ", "_")
            run_predict(image, out, 1, env_extra, threads)  # warm the file cache (torch, the model)
            idle = [run_predict(image, out, args.mc, env_extra, threads) for _ in range(args.repeats)]
            procs = start_competitors(args.competitors)
            try:
                loaded = [run_predict(image, out, args.mc, env_extra, threads) for _ in range(args.repeats)]
            finally:
                stop_competitors(procs)
            time.sleep(1.0)
            rows.append((name, min(idle), min(loaded)))
            print(f"{name}: idle {min(idle)[0]:.1f} s ({min(idle)[1]} thr), loaded {min(loaded)[0]:.1f} s "
                  f"({min(loaded)[1]} thr)", flush=True)
    print()
    print(f"| threads | idle | beside {args.competitors} busy processes | ratio |")
    print("| --- | --- | --- | --- |")
    for name, idle, loaded in rows:
        print(f"| {name} | {idle[0]:.1f} s ({idle[1]} thr) | {loaded[0]:.1f} s ({loaded[1]} thr) "
              f"| {loaded[0] / idle[0]:.1f}x |")
    for name, idle, loaded in rows:
        if name == "policy":
            ratio = loaded[0] / idle[0]
            print(f"target policy loaded / idle <= {TARGET_RATIO:.0f}x: {'met' if ratio <= TARGET_RATIO else 'MISSED'} "
                  f"({ratio:.1f}x)")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          "(other processes share the CPU; a high load inflates the times)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
