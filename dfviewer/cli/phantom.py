"""``dfviewer phantom``: write a simulated paired attenuation / dark-field chest dataset."""

from __future__ import annotations

import argparse

from dfviewer.cli import options
from dfviewer.cli.text import ProgressLine, plural
from dfviewer.core import sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write (created if missing)")
    parser.add_argument("--n", type=options.bounded(1, sizes.MAX_PHANTOM_CASES), default=100, metavar="N",
                        help="number of cases (default 100)")
    parser.add_argument("--size", type=options.bounded(*sizes.PHANTOM_SIZES), default=256, metavar="S",
                        help=f"image size in pixels, {sizes.PHANTOM_SIZES[0]} to {sizes.PHANTOM_SIZES[1]} (default 256)")
    parser.add_argument("--seed", type=int, default=0, metavar="K", help="random seed (default 0)")
    parser.add_argument("--healthy-fraction", type=float, metavar="F", help="share of healthy cases (default 0.4)")
    parser.add_argument("--ood-fraction", type=float, metavar="F",
                        help="share of out-of-distribution cases (devices...) in val and test (default 0.3); "
                             "training cases stay in distribution")
    parser.add_argument("--splits", type=float, nargs=3, default=(0.7, 0.15, 0.15), metavar=("TRAIN", "VAL", "TEST"),
                        help="split fractions (default 0.7 0.15 0.15)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--dicom", dest="dicom", action="store_true", default=True,
                     help="attenuation as DICOM DX (default; TIFF if DICOM writing is unavailable)")
    fmt.add_argument("--tiff", dest="dicom", action="store_false", help="attenuation as float32 TIFF")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from dfviewer.phantom import PhantomConfig, write_dataset
    from dfviewer.phantom.config import PhantomConfigError

    changes = {}
    if args.healthy_fraction is not None:
        changes["healthy_fraction"] = args.healthy_fraction
    if args.ood_fraction is not None:
        changes["ood_fraction_eval"] = args.ood_fraction
    if args.n < 1:
        raise PhantomConfigError(f"--n must be at least 1, not {args.n}.")
    config = PhantomConfig(size=args.size, **changes)
    bar = ProgressLine("phantom", unit="cases")

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            bar(done, total)

    manifest = write_dataset(args.out, args.n, args.size, args.seed, config, splits=tuple(args.splits),
                             progress=progress, dicom=args.dicom)
    bar.close()
    print(f"wrote {plural(args.n, 'case')} to {manifest.parent} (manifest {manifest})")
    return 0
