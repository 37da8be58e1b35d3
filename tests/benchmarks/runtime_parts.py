"""Where the time of one image goes, torch eager against the ONNX Runtime graph (issue 25), in one process.

Run: ``python tests/benchmarks/runtime_parts.py [--threads 1] [--repeats 3]``.

Bundled demo model, RG1_UNCR.dcm, working size 256, T = 20, seed 0. Printed, median milliseconds:
the whole ``predict`` of both paths, the parts outside the network (``prepare_image``, drawing the 20
samples' masks), the network alone for 20 samples (torch: the predictor's channels-last model, one
row a pass and 20 rows in one pass; runtime: ``session.run`` with 1, 2 and 20 rows a run), and the
runtime's share of kernel time per operator type (ONNX Runtime's profiler, one row a run).
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runtime_speed import images


def median_ms(work: Callable[[], object], repeats: int) -> float:
    work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import numpy as np
    import onnxruntime as ort
    import torch

    from dfviewer.core.export import export_graph
    from dfviewer.core.inference import Predictor
    from dfviewer.core.mc_masks import sample_masks
    from dfviewer.core.prepare import prepare_image
    from dfviewer.core.runtime_predictor import RuntimePredictor
    from dfviewer.resources import resource_path

    torch.set_num_threads(args.threads)
    image = images(1)[0]
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "demo.safetensors"
        shutil.copyfile(resource_path("models", "demo.safetensors"), model)
        graph = export_graph(model)
        predictor = Predictor.from_checkpoint(model, "cpu")
        runtime = RuntimePredictor(model, threads=args.threads)
        x = torch.from_numpy(prepare_image(image, runtime.config, None).x)
        height, width = x.shape[-2:]

        def masks(rows: int) -> list[np.ndarray]:
            drawn = [sample_masks(0, s, runtime.layers, runtime.config.dropout, height, width) for s in range(rows)]
            return [np.stack(layer) for layer in zip(*drawn)]

        def feeds(rows: int) -> dict[str, np.ndarray]:
            return {"x": x.numpy(), **{f"mask_{i}": m for i, m in enumerate(masks(rows))}}

        outputs = [o.name for o in runtime.session.get_outputs()]
        by_rows = {rows: feeds(rows) for rows in (1, 2, 20)}
        x_cl = x.contiguous(memory_format=torch.channels_last)
        x_20 = x_cl.expand(20, -1, -1, -1).contiguous(memory_format=torch.channels_last)
        r = args.repeats
        rows_of = {
            "torch predict (preview + 20 samples)": lambda: predictor.predict(image, 20, seed=0),
            "runtime predict (20 samples)": lambda: runtime.predict(image, 20, seed=0),
            "prepare_image (both paths)": lambda: prepare_image(image, runtime.config, None),
            "drawing 20 samples' masks (runtime)": lambda: masks(20),
        }
        print(f"{args.threads} thread(s), RG1_UNCR.dcm, working size 256, T = 20; median ms of {r}")
        for name, work in rows_of.items():
            print(f"{name:50s} {median_ms(work, r):8.1f}")
        with torch.inference_mode():
            print(f"{'torch network, 20 x 1 row':50s} {median_ms(lambda: [predictor.model(x_cl) for _ in range(20)], r):8.1f}")
            print(f"{'torch network, 1 x 20 rows':50s} {median_ms(lambda: predictor.model(x_20), r):8.1f}")
        for rows, feed in by_rows.items():
            def run(feed: dict[str, np.ndarray] = feed, rows: int = rows) -> None:
                for _ in range(20 // rows):
                    runtime.session.run(outputs, feed)
            print(f"{f'runtime session.run, {20 // rows} x {rows} rows':50s} {median_ms(run, r):8.1f}")

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "profile")
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        for _ in range(20):
            session.run(outputs, by_rows[1])
        events = json.loads(Path(session.end_profiling()).read_text())
        per_op: collections.Counter[str] = collections.Counter()
        for event in events:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                per_op[event["args"]["op_name"]] += event["dur"]
        total = sum(per_op.values())
        print("runtime kernel time by operator:",
              ", ".join(f"{op} {100 * t / total:.1f}%" for op, t in per_op.most_common(10)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
