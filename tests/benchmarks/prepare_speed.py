"""prepare_image and resample_map in numpy against the torch versions they replaced, 2048 x 2048 input (issue 25).

Run: ``python tests/benchmarks/prepare_speed.py [--repeats 21] [--threads 1 2]``.

The image is RG1_UNCR.dcm (pydicom-data) resampled to 2048 x 2048. For each thread count N a child
process runs pinned to N cores (CPU affinity; ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
``torch.set_num_threads`` set to N; the numpy resampling runs on the calling thread) and times, alternating the two implementations call by call so a busy
machine slows both alike: ``prepare_image`` at working sizes 512 (the default) and 256 (the demo
model), and ``resample_map`` of a working-size map back to 2048 x 2048. Printed per case: the median
wall-clock and the median CPU milliseconds (process time, all threads: steadier than the wall clock
when other jobs share the machine) of each, and the ratios torch / numpy (above 1: numpy faster). The
torch versions are the former product code, kept here as the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial


def torch_prepare(image, config, working_size):
    import torch
    import torch.nn.functional as F

    from dfviewer.core.geometry import working_shape
    from dfviewer.core.normalize import normalize_input
    from dfviewer.core.prepare import check_image

    with torch.inference_mode():
        image = check_image(image)
        t = torch.from_numpy(normalize_input(image, config.normalization))[None, None]
        size = working_shape(image.shape, working_size)
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True)
        h, w = t.shape[-2:]
        pad_h, pad_w = (-h) % config.multiple, (-w) % config.multiple
        if pad_h or pad_w:
            t = F.pad(t, (0, pad_w, 0, pad_h), mode="reflect")
        return t.expand(-1, config.in_channels, -1, -1).contiguous()


def torch_resample_map(array, shape):
    import torch
    import torch.nn.functional as F

    with torch.inference_mode():
        t = torch.from_numpy(array)[None, None]
        return F.interpolate(t, size=shape, mode="bilinear", align_corners=False)[0, 0].numpy()


def paired(a: Callable[[], object], b: Callable[[], object], repeats: int) -> list[float]:
    """Median wall and CPU milliseconds of ``a`` and of ``b``, called in turn."""
    a(), b()
    times: list[list[float]] = [[], [], [], []]
    for _ in range(repeats):
        for i, work in enumerate((a, b)):
            wall, cpu = time.perf_counter(), time.process_time()
            work()
            times[2 * i].append(1000 * (time.perf_counter() - wall))
            times[2 * i + 1].append(1000 * (time.process_time() - cpu))
    return [statistics.median(t) for t in times]


def child(threads: int, repeats: int) -> dict[str, list[float]]:
    import numpy as np
    import torch
    from pydicom.data import get_testdata_file

    from dfviewer.core.config import ModelConfig
    from dfviewer.core.geometry import resample_map
    from dfviewer.core.prepare import prepare_image
    from dfviewer.io import read_radiograph

    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    torch.set_num_threads(threads)
    rg1 = read_radiograph(get_testdata_file("RG1_UNCR.dcm")).pixels
    image = torch_resample_map(np.ascontiguousarray(rg1, dtype=np.float32), (2048, 2048)).copy()
    out: dict[str, list[float]] = {}
    for size in (512, 256):
        config = ModelConfig(working_size=size)
        small = np.ascontiguousarray(prepare_image(image, config, size).x[0, 0])
        out[f"prepare_image 2048^2 -> {size}"] = paired(partial(torch_prepare, image, config, size),
                                                        partial(prepare_image, image, config, size), repeats)
        out[f"resample_map {size}^2 -> 2048^2"] = paired(partial(torch_resample_map, small, (2048, 2048)),
                                                         partial(resample_map, small, (2048, 2048)), repeats)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.repeats)))
        return 0
    print(f"{'case':32s} {'cores':>5s} {'torch wall / cpu ms':>20s} {'numpy wall / cpu ms':>20s} "
          f"{'torch/numpy wall / cpu':>23s}")
    for threads in args.threads:
        # the product's wait policy (dfviewer.threads): torch's idle threads would otherwise spin into the
        # next call's CPU time
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
               "OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "3000"}
        done = subprocess.run([sys.executable, __file__, "--child", str(threads), "--repeats", str(args.repeats)],
                              env=env, capture_output=True, text=True, check=True)
        for case, (tw, tc, nw, nc) in json.loads(done.stdout.strip().splitlines()[-1]).items():
            print(f"{case:32s} {threads:5d} {tw:11.2f} / {tc:6.2f} {nw:11.2f} / {nc:6.2f} {tw / nw:14.2f} / {tc / nc:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
