"""ONNX Runtime graph against torch eager, per image, paired in one process (issue 25, target >= 1.8x).

Run: ``python tests/benchmarks/runtime_speed.py [--rounds 3] [--images 2]``.

Model: the bundled demo model (working size 256), all 3 stages, T = 20 MC samples, seed 0. Images:
RG1_UNCR.dcm (pydicom-data) and the bundled phantom sample, the same for both paths. For 1 and for 2
threads (torch.set_num_threads / ONNX Runtime intra_op_num_threads), each round times every image on
torch (``Predictor.predict``) and then on the runtime (``RuntimePredictor.predict``, which runs no
preview pass, and its ``predict_stream`` as the viewer consumes it: the preview, then an update per
graph run, the last one's maps built); printed: the median seconds per image of each and the ratios
torch / runtime. The graph is exported to a temporary folder first.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def images(count: int) -> list[np.ndarray]:
    from pydicom.data import get_testdata_file

    from dfviewer.io import read_radiograph
    from dfviewer.resources import resource_path

    found = [read_radiograph(get_testdata_file("RG1_UNCR.dcm")).pixels]
    for path in sorted(resource_path("samples").rglob("*")):
        if len(found) >= count:
            break
        try:
            found.append(read_radiograph(path).pixels)
        except Exception:  # noqa: BLE001 - not an image (a manifest, a README)
            continue
    return found[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    from dfviewer.core.export import export_graph
    from dfviewer.core.inference import Predictor
    from dfviewer.core.runtime_predictor import RuntimePredictor
    from dfviewer.resources import resource_path

    pictures = images(args.images)
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "demo.safetensors"
        shutil.copyfile(resource_path("models", "demo.safetensors"), model)
        export_graph(model)
        predictor = Predictor.from_checkpoint(model, "cpu")
        print(f"{len(pictures)} images, T = 20, 3 stages, working size 256, {args.rounds} rounds")
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runtime = RuntimePredictor(model, threads=threads)
            for image in pictures[:1]:  # warm-up of both paths
                predictor.predict(image, 20, seed=0)
                runtime.predict(image, 20, seed=0)
            eager: list[float] = []
            graph: list[float] = []
            stream: list[float] = []
            for _ in range(args.rounds):
                for image in pictures:
                    start = time.perf_counter()
                    predictor.predict(image, 20, seed=0)
                    eager.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    runtime.predict(image, 20, seed=0)
                    graph.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    *_, last = runtime.predict_stream(image, 20, seed=0)
                    last.stages[-1].mean  # noqa: B018 - built and resampled, as the viewer shows it
                    stream.append(time.perf_counter() - start)
            t, r, v = statistics.median(eager), statistics.median(graph), statistics.median(stream)
            print(f"{threads} thread{'s' if threads > 1 else ''}: torch eager {t:.3f} s/image, "
                  f"runtime {r:.3f} s/image, ratio {t / r:.2f}x; runtime stream {v:.3f} s/image, "
                  f"ratio {t / v:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
