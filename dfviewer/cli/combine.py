"""``dfviewer combine``: one manifest over several paired datasets, for training on them together."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="DATASET",
                        help="dataset folders or manifest .csv files (splits, flags and masks are kept)")
    parser.add_argument("--out", required=True, metavar="PATH",
                        help="manifest to write (a .csv path, or a folder for DIR/manifest.csv); "
                             "its paths are relative to its folder and no image is copied")


def run(args: argparse.Namespace) -> int:
    from dfviewer.core.dataset_combine import combine_datasets

    manifest, splits = combine_datasets(args.sources, args.out)
    counts = ", ".join(f"{n} {name}" for name, n in splits.items())
    print(f"wrote {manifest} listing {sum(splits.values())} pairs from {len(args.sources)} datasets ({counts})")
    return 0
