"""Peak memory and time of ``dfviewer predict`` on the largest image the readers accept.

Run: ``python tests/benchmarks/predict_memory.py [--old DIR] [--repeat K] [--quick]``.

Inputs (made here): a smooth chest-like 8-bit PNG at 6000 x 6000 (the readers' pixel limit,
``dfviewer.io.limits.MAX_PIXELS``; about 35 KB on disk), the same at 2000 x 2000, and pydicom's
``RG1_UNCR.dcm``. Model: the bundled demo model. Each run is a fresh interpreter calling the CLI's
``main()``; peak memory is that child's VmHWM from ``/proc/self/status`` (ru_maxrss would carry
over the forking parent's peak), time is ``main()``'s own (imports excluded).

``--old DIR``: a copy of an earlier tree (e.g. ``git archive HEAD | tar -x -C DIR``) run with
``PYTHONPATH=DIR`` alternately with this tree, so both see the same machine load; the table then
shows before and after side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHILD = (
    "import json, sys, time\n"
    "from dfviewer.cli.main import main\n"
    "start = time.perf_counter()\n"
    "code = main(sys.argv[1:])\n"
    "seconds = time.perf_counter() - start\n"
    "hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
    "print('RESULT ' + json.dumps({'code': code, 'seconds': seconds, 'peak_mib': int(hwm.split()[1]) / 1024}))\n"
)


def chest_like(side: int) -> np.ndarray:
    """A smooth 8-bit image with a bright body and two darker lungs (compresses to a few KB)."""
    y = np.linspace(-1, 1, side, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, side, dtype=np.float32)[None, :]
    body = np.exp(-(x / 0.75) ** 2 * 2 - (y / 0.9) ** 4)
    lungs = sum(np.exp(-((x - cx) / 0.22) ** 2 - ((y + 0.05) / 0.45) ** 2) for cx in (-0.35, 0.35))
    image = 40 + 180 * body - 90 * lungs
    return np.clip(image, 0, 255).astype(np.uint8)


def make_inputs(folder: Path, quick: bool) -> dict[str, Path]:
    from PIL import Image
    from pydicom.data import get_testdata_file

    inputs: dict[str, Path] = {}
    for side in (() if quick else (6000,)) + (2000,):
        path = folder / f"chest{side}.png"
        Image.fromarray(chest_like(side)).save(path)
        inputs[f"{side}x{side} PNG ({path.stat().st_size // 1024} KB)"] = path
    inputs["RG1_UNCR.dcm"] = Path(get_testdata_file("RG1_UNCR.dcm"))
    return inputs


def run_predict(path: Path, out: Path, options: list[str], pythonpath: str | None) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    model = ROOT / "resources" / "models" / "demo.safetensors"
    argv = ["predict", str(path), "--out", str(out), "--model", str(model), "--threads", "1", *options]
    # run from the output's folder: ``python -c`` puts the working folder first on sys.path,
    # which would shadow PYTHONPATH's tree with this one
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, env=env,
                          timeout=900, cwd=out)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"predict failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


CASES = [
    ("--mc 20 (TIFF)", ["--mc", "20"]),
    ("--mc 0 --format npz", ["--mc", "0", "--format", "npz"]),
    ("--mc 20 --format npz", ["--mc", "20", "--format", "npz"]),
    ("--mc 0 --format png", ["--mc", "0", "--format", "png"]),
    ("--mc 0 --format tiff", ["--mc", "0", "--format", "tiff"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", help="an earlier tree to compare against (run with PYTHONPATH=OLD)")
    parser.add_argument("--repeat", type=int, default=1, help="alternating runs per case (default 1)")
    parser.add_argument("--quick", action="store_true", help="leave out the 6000 x 6000 input")
    parser.add_argument("--cases", default="", help="comma-separated case numbers (default: all)")
    args = parser.parse_args()
    trees = ([("before", args.old)] if args.old else []) + [("after" if args.old else "this tree", None)]
    chosen = [CASES[int(i)] for i in args.cases.split(",") if i.strip()] if args.cases else CASES
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = make_inputs(folder, args.quick)
        print(f"{'input':<26} {'options':<22} " + " ".join(f"{name + ' MiB':>13} {name + ' s':>11}"
                                                        for name, _ in trees))
        for label, path in inputs.items():
            for case, options in chosen if "6000" in label else chosen[:1]:
                runs: dict[str, list[dict]] = {name: [] for name, _ in trees}
                for k in range(args.repeat):
                    for name, tree in trees:  # alternated, so both see the same load
                        runs[name].append(run_predict(path, folder / f"out{k}_{name}", options, tree))
                cells = []
                for name, _ in trees:
                    peak = max(r["peak_mib"] for r in runs[name])
                    secs = min(r["seconds"] for r in runs[name])
                    cells.append(f"{peak:>13.0f} {secs:>11.1f}")
                print(f"{label:<26} {case:<22} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
