"""``dfviewer export``: write a checkpoint's ONNX inference graph (default: beside it, MODEL.onnx)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a .safetensors checkpoint file or folder")
    parser.add_argument("--out", metavar="PATH", help="the graph to write (default: beside MODEL, ending in .onnx)")


def run(args: argparse.Namespace) -> int:
    from dfviewer.core.predictors import require_torch

    require_torch("exporting a graph")
    from dfviewer.core.export import export_graph

    path = export_graph(args.model, args.out)
    print(f"wrote {path}")
    return 0
