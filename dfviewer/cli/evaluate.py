"""``dfviewer evaluate``: per-stage image quality and uncertainty quality as JSON and Markdown."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dfviewer.cli import options
from dfviewer.cli.text import ProgressLine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="PATH", help="a dfviewer .safetensors checkpoint")
    parser.add_argument("--data", required=True, metavar="DIR", help="paired dataset folder or manifest .csv")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"),
                        help="which split of the dataset to score (default test)")
    options.add_mc(parser, metavar="T")
    parser.add_argument("--working-size", type=options.working_size, metavar="N",
                        help=f"override the checkpoint's working size, {options.WORKING_SIZE_RANGE} (default: the checkpoint's)")
    options.add_device(parser)
    parser.add_argument("--out", metavar="JSON", help="write the report as JSON (and a .md beside it)")
    parser.add_argument("--plots", metavar="DIR", help="write PNG plots to this folder")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="seed of the MC-dropout masks (and of the renderings; default 0)")
    parser.add_argument("--renderings", type=int, default=0, metavar="N",
                        help="also score every image under N seeded clinical renderings per family (windowed 8-bit "
                             "PNG, 12-bit CR, CLAHE JPEG, multi-scale enhanced) with consistency against the raw input (default 0: none)")
    options.add_threads(parser)


def run(args: argparse.Namespace) -> int:
    from dfviewer.core.evaluation import evaluate
    from dfviewer.core.evaluation_report import write_plots
    from dfviewer.core.predictors import open_predictor
    from dfviewer.errors import UserError
    from dfviewer.threads import describe

    if args.renderings < 0:
        raise UserError(f"--renderings must be 0 or more, not {args.renderings}")
    progress = ProgressLine("evaluating", unit="images")
    predictor = open_predictor(args.model, device=args.device, threads=args.threads)
    threads = predictor.threads
    print(f"dfviewer evaluate: model on {predictor.device}; {describe(threads, args.threads)}", file=sys.stderr)
    report = evaluate(predictor, args.data, split=args.split, mc_samples=args.mc,
                      working_size=args.working_size, device=args.device, progress=progress, seed=args.seed)
    progress.close()
    report.model = str(args.model)
    if args.renderings:
        from dfviewer.core.rendering_eval import evaluate_renderings

        views = ProgressLine("rendered views", unit="views")
        report.renderings = evaluate_renderings(predictor, args.data, args.split, args.renderings, args.mc,
                                                args.seed, views)
        views.close()
    table = report.to_markdown()
    print(table)
    if args.out:
        out = report.save_json(args.out)
        from dfviewer.atomic import atomic_write_text

        md = out.with_suffix(".md")
        atomic_write_text(md, table)
        print(f"wrote {out} and {md}", file=sys.stderr)
    if args.plots:
        for path in write_plots(report, Path(args.plots)):
            print(f"wrote {path}", file=sys.stderr)
    for failure in report.failed:
        print(f"dfviewer evaluate: {failure['case']}: {failure['reason']}", file=sys.stderr)
    if report.failed:
        print(f"dfviewer evaluate: {len(report.failed)} pair(s) could not be evaluated and are left out "
              "of the figures above.", file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":  # ``python -m dfviewer.cli.evaluate``
    from dfviewer.cli.main import main

    sys.exit(main(["evaluate", *sys.argv[1:]]))
