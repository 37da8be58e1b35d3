"""``dfviewer phantom``: write a simulated paired attenuation / dark-field chest dataset."""

from __future__ import annotations

import argparse
import sys
import time

from dfviewer.cli.text import is_terminal, plural


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write (created if missing)")
    parser.add_argument("--n", type=int, default=100, metavar="N", help="number of cases (default 100)")
    parser.add_argument("--size", type=int, default=256, metavar="S", help="image size in pixels (default 256)")
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
    start = time.perf_counter()
    terminal = is_terminal(sys.stderr)
    tenth = [0]

    def progress(done: int, total: int) -> None:
        if args.quiet:
            return
        width = 30
        filled = int(width * done / total)
        elapsed = time.perf_counter() - start
        eta = elapsed / done * (total - done)
        text = f"phantom [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {elapsed:.0f}s, ~{eta:.0f}s left"
        if terminal:  # one line, redrawn
            print(f"\r{text} ", end="\n" if done == total else "", file=sys.stderr, flush=True)
        elif done * 10 // total > tenth[0] or done == total:  # logs and pipes: a line every tenth
            tenth[0] = done * 10 // total
            print(text, file=sys.stderr, flush=True)

    manifest = write_dataset(args.out, args.n, args.size, args.seed, config, splits=tuple(args.splits),
                             progress=progress, dicom=args.dicom)
    print(f"wrote {plural(args.n, 'case')} to {manifest.parent} (manifest {manifest})")
    return 0
