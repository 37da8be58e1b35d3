"""``dfviewer domain-fit``: teach a checkpoint which inputs look like frontal chest radiographs."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="PATH", help="the .safetensors checkpoint to extend")
    parser.add_argument("--data", required=True, metavar="DIR", help="the paired dataset it was trained on "
                        "(train split: the reference; val split: the threshold)")
    parser.add_argument("--out", metavar="PATH", help="write the extended checkpoint here (default: replace --model)")
    parser.add_argument("--renderings", type=int, default=3, metavar="N",
                        help="random clinical renderings (and poses) of every image (default 3)")
    parser.add_argument("--render", type=float, default=0.85, metavar="P",
                        help="probability that a view is clinically rendered rather than raw (default 0.85)")
    parser.add_argument("--crop", type=float, default=0.25, metavar="F",
                        help="field-of-view variation: each side cut to a random 1-F .. 1 of its length (default 0.25)")
    parser.add_argument("--quantile", type=float, default=0.999, metavar="Q",
                        help="flag inputs scoring above this quantile of the val views (default 0.999: real films "
                             "differ from any simulator, so only what lies beyond its rarest views is flagged)")
    parser.add_argument("--max-train", type=int, default=800, metavar="N", help="train images used at most (default 800)")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="seed of the random renderings and of the images picked (default 0)")


def run(args: argparse.Namespace) -> int:
    from dfviewer.core.predictors import require_torch

    require_torch("fitting a domain check")
    from dfviewer.core.checkpoint import load_checkpoint, save_checkpoint
    from dfviewer.core.data import Augment
    from dfviewer.core.domain import fit_on_dataset
    from dfviewer.errors import UserError

    if not 0.5 <= args.quantile < 1:
        raise UserError(f"--quantile must be at least 0.5 and below 1, not {args.quantile}")
    if not 0 <= args.render <= 1:
        raise UserError(f"--render must be a probability from 0 to 1, not {args.render}")
    if not 0 <= args.crop < 1:
        raise UserError(f"--crop must be at least 0 and below 1, not {args.crop}")
    if args.max_train < 10:
        raise UserError(f"--max-train must be at least 10, not {args.max_train}")
    ckpt = load_checkpoint(args.model)
    cfg = ckpt.config
    augment = Augment(rotation_deg=5.0, flip=True, zoom=0.05, shift=0.03, render=args.render, crop=args.crop)
    domain = fit_on_dataset(args.data, cfg.normalization, cfg.working_size, augment, args.renderings,
                            args.quantile, args.max_train, args.seed)
    metadata = {**ckpt.metadata, "domain_check": domain.to_dict()}
    out = save_checkpoint(args.out or args.model, ckpt.build_model(), metadata)
    print(f"domain check: {len(domain.variances)} components, threshold {domain.threshold:.4g} "
          f"(the {100 * args.quantile:g}th percentile of the val views); wrote {out}")
    return 0


if __name__ == "__main__":
    from dfviewer.cli.main import main

    sys.exit(main(["domain-fit", *sys.argv[1:]]))
