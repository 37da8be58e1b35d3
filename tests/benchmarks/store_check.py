"""What the deep shard check costs a resume and ``--verify``: seconds per stored image.

``python tests/benchmarks/store_check.py --images 256 --size 256 --maps 2`` writes one store of
smooth float16 maps (like generated ones, which compress alike) with ``ShardWriter`` and times
:func:`dfviewer.core.store_check.check_shards` with and without reading the maps back.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dfviewer.core import store as st
from dfviewer.core import store_check as sc


def build(folder: Path, images: int, size: int, maps: int, shard_size: int) -> sc.Expected:
    names = [f"stage3_m{k}" for k in range(maps)]
    sources = [f"/data/case{i:06d}.png" for i in range(images)]
    settings = {"format": st.FORMAT_VERSION, "map_names": names, "size": size, "dtype": "float16",
                "shard_size": shard_size, "n_sources": images, "sources_sha256": st.sources_digest(sources)}
    expected = sc.Expected.of(settings, sources)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for shard in range(0, images, shard_size):
        with st.ShardWriter(folder, shard // shard_size, 0, names, size, "float16", expected.digest) as writer:
            for i in range(shard, min(images, shard + shard_size)):
                field = np.stack([np.sin(6 * yy + rng.random()) * np.cos(5 * xx) + k for k in range(maps)])
                writer.add({"index": i, "path": sources[i], "sha256": "0" * 64, "source_height": size,
                            "source_width": size}, field.astype(np.float32))
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--maps", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        expected = build(Path(tmp), args.images, args.size, args.maps, args.shard_size)
        for deep in (False, True):
            start = time.perf_counter()
            checks = sc.check_shards(Path(tmp), expected, deep=deep)
            seconds = time.perf_counter() - start
            assert all(c.kind == sc.GOOD for c in checks.values())
            print(f"deep={deep}: {seconds:.2f} s for {args.images} images, {1000 * seconds / args.images:.2f} ms per image")


if __name__ == "__main__":
    main()
