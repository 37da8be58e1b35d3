"""HDF5 (h5py) or Zarr v3 for the maps of ``dfviewer generate``: stored size and read time per image.

Run: ``python scripts/store_choice.py STORE [--repeats 3]`` on a store ``dfviewer generate`` wrote.
Its maps are rewritten, image by image, into one HDF5 file as the store writes its shards (one
chunk per image and map, gzip level 4 with the shuffle filter) and into one Zarr v3 array
(same chunks; zarr-python's default codecs: zstd level 0, and gzip level 4 with a bytes-shuffle
for a like-for-like comparison). Reported: kB per image on disk (the whole file or folder / n) and
the time to read one random image's maps (median over every image, ``--repeats`` passes, warm cache).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np


def _maps(store: Path) -> np.ndarray:
    arrays = []
    for path in sorted((store / "shards").glob("shard-*.h5")):
        with h5py.File(path, "r") as f:
            arrays.append(f["maps"][()])
    return np.concatenate(arrays)


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _read_times(read, n: int, repeats: int) -> float:
    order = list(range(n)) * repeats
    random.Random(0).shuffle(order)
    times = []
    for i in order:
        t = time.perf_counter()
        read(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    maps = _maps(args.store)
    n, k, s, _ = maps.shape
    work = Path(tempfile.mkdtemp())
    print(f"{n} images, {k} maps of {s} x {s} {maps.dtype}")
    h5 = work / "maps.h5"
    with h5py.File(h5, "w") as f:
        ds = f.create_dataset("maps", shape=maps.shape, dtype=maps.dtype, chunks=(1, 1, s, s),
                              compression="gzip", compression_opts=4, shuffle=True)
        for i in range(n):
            ds[i] = maps[i]
    with h5py.File(h5, "r", rdcc_nbytes=0) as f:  # no chunk cache: every read decompresses, as in zarr
        ds = f["maps"]
        t_h5 = _read_times(lambda i: ds[i], n, args.repeats)
    print(f"| HDF5 (h5py, gzip 4 + shuffle) | {_size(h5) / n / 1e3:.1f} kB/image | read {t_h5 * 1e3:.2f} ms/image |")
    try:
        import zarr
        from zarr.codecs import BloscCodec
    except ImportError:
        print("zarr is not installed: no Zarr figures")
        return
    variants: tuple[tuple[str, dict], ...] = (
        ("zarr v3 default (zstd)", {}),
        ("zarr v3 zlib 4 + shuffle (blosc)", {"compressors": [BloscCodec(cname="zlib", clevel=4, shuffle="shuffle")]}),
    )
    for label, kwargs in variants:
        root = work / label.split(" (")[0].replace(" ", "_")
        z = zarr.create_array(store=str(root), shape=maps.shape, chunks=(1, 1, s, s), dtype=maps.dtype,
                              zarr_format=3, **kwargs)
        for i in range(n):
            z[i] = maps[i]
        z = zarr.open_array(str(root), mode="r")
        t_z = _read_times(lambda i, z=z: z[i], n, args.repeats)
        print(f"| {label} | {_size(root) / n / 1e3:.1f} kB/image | read {t_z * 1e3:.2f} ms/image |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
