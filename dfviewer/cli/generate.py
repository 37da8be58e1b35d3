"""``dfviewer generate``: maps for a whole collection of radiographs into a sharded store, resumable.

``dfviewer generate SOURCE --out STORE`` (SOURCE: a folder, searched recursively, or a CSV with
``--column``) writes HDF5 shards and a Parquet index (see :mod:`dfviewer.core.store`). Running the
same command again continues where a stopped or killed run ended. ``--verify STORE`` checks a store
against its index. Under ``torchrun`` (or any launcher setting ``RANK`` and ``WORLD_SIZE``) every
process takes its share of the shards; no torch is needed.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from dfviewer.cli import options
from dfviewer.cli.interrupt import stop_on_signals
from dfviewer.cli.predict import _stages, default_model
from dfviewer.cli.text import ProgressLine
from dfviewer.core import sizes
from dfviewer.core.config import MC_SEED
from dfviewer.errors import UserError
from dfviewer.wording import plural


def _map_list(text: str) -> list[str]:
    return [part.strip().lower() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", metavar="SOURCE",
                        help="a folder of radiographs (DICOM, PNG, JPEG, TIFF; searched recursively) or a CSV "
                             "file listing them (with --column)")
    parser.add_argument("--out", metavar="STORE", help="the store folder (created; run again to resume)")
    parser.add_argument("--verify", metavar="STORE", help="check a store against its index and exit")
    parser.add_argument("--model", metavar="PATH", help="a dfviewer .safetensors checkpoint; default: the bundled demo model")
    parser.add_argument("--column", metavar="NAME", help="the CSV column holding image paths (e.g. 'Image Index')")
    parser.add_argument("--root", metavar="DIR", help="the folder the CSV's paths are relative to (default: the CSV's folder)")
    parser.add_argument("--maps", type=_map_list, default=["mean", "aleatoric", "epistemic"], metavar="LIST",
                        help="maps to store: mean, alpha, beta, aleatoric, epistemic, total (default mean,aleatoric,epistemic)")
    parser.add_argument("--stages", type=_stages, default=None, metavar="LIST",
                        help="stages to store, e.g. 3 or 1,2,3 (default: the last stage)")
    options.add_mc(parser, " per image")
    parser.add_argument("--size", type=options.bounded(1, sizes.MAX_STORED_SIZE), default=None, metavar="N",
                        help=f"stored resolution, pixels on the longer side, at most {sizes.MAX_STORED_SIZE} "
                             "(default: the model's working size)")
    parser.add_argument("--dtype", default="float16", choices=("float16", "float32"), help="stored number type (default float16)")
    parser.add_argument("--batch-size", type=options.bounded(1, sizes.MAX_GENERATE_BATCH), default=4, metavar="N",
                        help=f"images per batch, 1 to {sizes.MAX_GENERATE_BATCH} (default 4); a resumed run should keep it for bit-identical results")
    parser.add_argument("--workers", type=options.non_negative, default=None, metavar="N",
                        help="processes reading and decoding images beside the model (default: 0 on a machine "
                             "with 2 cores or fewer, where the model needs both, else 1)")
    options.add_threads(parser, ", shared among torchrun's local processes, minus --workers; at least 1; "
                                "a number given is each process's")
    parser.add_argument("--shard-size", type=options.bounded(1, sizes.MAX_SHARD_SIZE), default=64, metavar="N",
                        help=f"images per shard file, 1 to {sizes.MAX_SHARD_SIZE} (default 64)")
    options.add_device(parser)
    parser.add_argument("--precision", default="float32", metavar="float32",
                        help="compute precision: only float32 (default), the one ONNX Runtime runs the model in "
                             "(kept for old commands; the stored number type is --dtype)")
    parser.add_argument("--seed", type=int, default=MC_SEED, metavar="N",
                        help=f"seed of the dropout masks (default {MC_SEED})")
    parser.add_argument("--retry-failed", action="store_true",
                        help="on a store made before, try the images that failed again (after fixing or replacing them)")


def run(args: argparse.Namespace) -> int:
    if args.verify:
        return _verify(Path(args.verify))
    if not args.source or not args.out:
        raise UserError("give a SOURCE (folder or CSV) and --out STORE, or --verify STORE")
    from dfviewer.core.predictors import open_predictor
    from dfviewer.threads import CpuSample, apply_threads, describe, local_processes

    start = CpuSample.now()  # the free cores are measured over the start-up, at no extra wait
    check_precision(args.precision)
    from dfviewer.core import archive_job as gen
    from dfviewer.core import store as st
    from dfviewer.core.ranks import distributed_env, rank_device, wait_for_file
    from dfviewer.core.sources import list_sources

    store = Path(args.out)
    maps = gen.check_maps(args.maps)
    model_path = Path(args.model) if args.model else default_model()
    env = distributed_env()
    say = (lambda text: print(f"dfviewer generate: {text}", file=sys.stderr)) if env.main else (lambda text: None)
    sources, notes = list_sources(args.source, args.column, args.root, skip=store)
    for note in notes:
        say(note)
    if args.workers is None:
        args.workers = gen.default_workers()
    threads = apply_threads(args.threads, start, processes=local_processes(), readers=args.workers)
    # the graph's session takes its threads when made; under torchrun each rank its own GPU ("cuda:N")
    predictor = open_predictor(model_path, device=rank_device(args.device, env), threads=threads)
    n_stages = predictor.config.n_stages
    stages = args.stages or [n_stages]
    if stages[-1] > n_stages:
        raise UserError(f"this model has {n_stages} stages, so --stages must lie between 1 and {n_stages}")
    options = gen.GenerateOptions(maps=maps, stages=stages, mc=args.mc, size=args.size, dtype=args.dtype,
                                  seed=args.seed, batch_size=args.batch_size, workers=args.workers,
                                  shard_size=args.shard_size, precision=args.precision,
                                  retry_failed=args.retry_failed)
    weights = model_path / "model.safetensors" if model_path.is_dir() else model_path
    settings = gen.settings_for(predictor, model_path, st.file_sha256(weights), options, len(sources))
    sources, _ = gen.prepare_store(store, sources, settings, env, say)
    if not env.main:  # rank 0 writes a new store's source list, then its settings
        wait_for_file(store / st.SETTINGS_NAME)
    where = f"{predictor.device}" + (f", {env.world} processes" if env.active else "")
    say(f"{plural(len(sources), 'source image')}; model {model_path.name} on {where}; "
        f"{', '.join(options.map_names())} as {args.dtype} at {settings['size']} px; T = {args.mc}; "
        f"{describe(threads, args.threads)} + {plural(args.workers, 'reader process', 'reader processes')}")
    progress = ProgressLine("generate" if not env.active else f"generate rank {env.rank}", unit="images",
                            rate=True, log_every=5.0)
    try:
        with stop_on_signals(threading.Event(),
                             lambda: say("stopping after the current batch (Ctrl-C again to stop now)")) as stop:
            summary = gen.generate(predictor, sources, store, options, env,
                                   progress=progress if env.main else None, stop=stop, notes=say)
    finally:
        progress.close()
    failed = _report(summary, store, env.world) if env.main else 0
    if summary.stopped:
        return 130
    return 1 if failed else 0  # like predict: a batch with failed images ends non-zero, after all the others


def check_precision(value: str) -> None:
    """Refuse a compute precision the runtime does not run, in one sentence (``bfloat16`` was torch's autocast)."""
    if value != "float32":
        raise UserError(f"--precision {value} is no longer offered: generate runs the model on ONNX Runtime in "
                        "float32; leave --precision out (the stored number type is --dtype float16 or float32)")


def _report(summary, store: Path, world: int) -> int:
    """Print the run's summary and the first failures; return how many images of the store failed."""
    from dfviewer.core import store as st

    rows = st.read_index(store)
    done = sum(1 for r in rows if r["status"] == "done")
    failed = [r for r in rows if r["status"] != "done"]
    flagged = [r for r in rows if st.is_flagged(r)]
    left = summary.total - len(rows)
    mine = summary.done + summary.failed
    rate = f", {summary.images_per_second:.2f} images/s" if mine else ""
    scope = " (this process)" if world > 1 else ""
    print(f"{'stopped' if summary.stopped else 'done'}: {mine} image(s) this run in {summary.seconds:.1f} s{rate}{scope}; "
          f"the store holds {done} of {summary.total} image(s), {len(failed)} failed, {len(flagged)} flagged, "
          f"{left} still to do", file=sys.stderr)
    if done:
        mb = summary.stored_bytes / done / 1e6
        print(f"stored maps: {mb:.3f} MB per image on average; index: {store / st.INDEX_NAME}", file=sys.stderr)
    for row in failed[:10]:
        print(f"  failed: {row['path']}: {row['reason']}", file=sys.stderr)
    if len(failed) > 10:
        print(f"  ... and {len(failed) - 10} more (see the index's reason column)", file=sys.stderr)
    for row in flagged[:10]:
        print(f"  flagged: {row['path']}: {row['warning'] or 'the domain check flagged it'}", file=sys.stderr)
    if len(flagged) > 10:
        print(f"  ... and {len(flagged) - 10} more (see the index's flagged and warning columns)", file=sys.stderr)
    if summary.stopped and left:
        print("run the same command again to continue", file=sys.stderr)
    elif failed:
        print("to try the failed images again (after fixing or replacing the files), run the same command "
              "with --retry-failed", file=sys.stderr)
    return len(failed)


def _verify(store: Path) -> int:
    from dfviewer.core.store import read_index
    from dfviewer.core.store_check import verify_store

    problems, counts = verify_store(store)
    print(f"{store}: {counts['sources']} source images, {counts['rows']} index rows ({counts['done']} stored, "
          f"{counts['failed']} failed, {counts['flagged']} flagged), {counts['checked']} stored images read and "
          "checked", file=sys.stderr)
    for row in read_index(store) if counts["failed"] else ():
        if row["status"] != "done":
            print(f"  failed: {row['path']}: {row['reason'] or 'no reason was stored'}", file=sys.stderr)
    for text in problems:
        print(f"  problem: {text}", file=sys.stderr)
    print("verify: " + ("OK" if not problems else f"{plural(len(problems), 'problem')}"), file=sys.stderr)
    return 0 if not problems else 1


if __name__ == "__main__":  # ``python -m dfviewer.cli.generate`` (e.g. under torchrun -m)
    from dfviewer.cli.main import main

    sys.exit(main(["generate", *sys.argv[1:]]))
