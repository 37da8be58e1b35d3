"""``dfviewer predict``: dark-field and uncertainty maps for radiograph files, headless.

For every input and requested stage it writes the six maps (darkfield, alpha, beta, aleatoric,
epistemic, total) as float32 TIFF files ``<stem>_stage<k>_<map>.tiff`` (or one NPZ per input,
or PNG previews). A bad input gets one sentence on stderr; the others are still processed and
the command exits non-zero at the end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.cli import options
from dfviewer.cli.text import ProgressLine
from dfviewer.core.config import MC_SEED
from dfviewer.errors import STOP_EXCEPTIONS, UserError, failure_reason

FORMATS = ("tiff", "npz", "png")


def _stages(text: str) -> list[int]:
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"stages must be numbers separated by commas, like 1,2,3, not {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"stages must be numbers from 1 up, like 1,2,3, not {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="radiograph files (DICOM, PNG, JPEG, TIFF, NPY) or folders of them")
    parser.add_argument("--model", metavar="PATH",
                        help="a dfviewer .safetensors checkpoint (file or folder); default: the bundled demo model")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the output maps (created if needed)")
    options.add_mc(parser)
    parser.add_argument("--stages", type=_stages, default=None, metavar="LIST",
                        help="stages to write, e.g. 3 or 1,2,3 (default: all)")
    options.add_device(parser)
    parser.add_argument("--format", default="tiff", choices=FORMATS, dest="fmt",
                        help="float32 TIFF per map (default), one NPZ per input, or PNG previews")
    parser.add_argument("--working-size", type=options.working_size, default=None, metavar="N",
                        help=f"pixels on the longer side the network works at, {options.WORKING_SIZE_RANGE} "
                             "(default: the model's)")
    parser.add_argument("--seed", type=int, default=MC_SEED, metavar="N",
                        help=f"seed of the dropout masks (default {MC_SEED}, the viewer's: both give the same "
                             "epistemic map for the same file)")
    options.add_threads(parser)


def default_model() -> Path:
    """The bundled demo model, or a :class:`UserError` asking for ``--model``."""
    try:
        from dfviewer.resources import resource_path

        path = resource_path("models", "demo.safetensors")
    except FileNotFoundError:
        path = None
    if path is None or not path.exists():
        raise UserError("no model was given and no bundled demo model was found; pass --model PATH")
    return path


#: stems of files a folder holds beside its cases, skipped when a folder is expanded: true
def _is_radiograph_candidate(path: Path) -> bool:
    from dfviewer.io.file_filters import has_radiograph_suffix, is_companion_file
    from dfviewer.io.reader import sniff

    if path.name.startswith(".") or not path.is_file() or is_companion_file(path):
        return False
    if path.suffix and has_radiograph_suffix(path):
        return True
    try:
        return bool(sniff(path))  # extension-less DICOM and friends
    except OSError:
        return False


def expand_inputs(inputs: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Files to process and sentences about unusable entries.

    Folders are expanded (not recursively, sorted) to their image files, leaving out companions
    (``<case>_darkfield.tiff``, ``<case>_lung.png``, masks) and earlier ``dfviewer predict``
    outputs; files named explicitly are always processed, missing ones reported.
    """
    files: list[Path] = []
    problems: list[str] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _is_radiograph_candidate(p))
            if not found:
                problems.append(f"Folder {path} holds no radiograph files.")
            files.extend(found)
        elif not path.exists():
            problems.append(f"{path}: there is no such file or folder.")
        else:
            files.append(path)  # the reader says what is wrong with an odd file
    return files, problems


def output_stems(files: list[Path]) -> list[str]:
    """File name stems for the outputs; inputs sharing a stem get their suffix appended."""
    stems = [f.stem or f.name for f in files]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    result, used = [], set()
    for f, s in zip(files, stems):
        name = s if counts[s] == 1 else f"{s}_{f.suffix.lstrip('.').lower() or 'file'}"
        base, k = name, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        result.append(name)
    return result


def write_outputs(results, out_dir: Path, stem: str, fmt: str, model_name: str, warning: str = "") -> list[Path]:
    """Write the maps of every :class:`StageResult` in ``results``; return the paths written.

    A ``warning`` (the input was flagged) goes into every file: the PNGs' title strip and text, the
    TIFFs' description, an NPZ's ``warning`` entry.
    """
    from dfviewer.display.export_plan import PlannedFile, plan_predictions
    from dfviewer.display.maps import MAPS, PREDICTED_MAPS

    # one full-resolution map at a time: made from the working-size maps, written, let go
    if fmt == "npz":
        from dfviewer.io.npz_export import write_npz

        target = out_dir / f"{stem}.npz"
        arrays: list[tuple[str, Any]] = [(f"stage{r.stage}_{MAPS[key].file_name}", partial(r.full_map, key))
                                         for r in results for key in PREDICTED_MAPS]
        arrays.append(("mc_samples", np.array(results[0].samples if results else 0)))
        if warning:
            arrays.append(("warning", np.array(warning)))
        return [write_npz(target, arrays)]
    from dfviewer.display.export import write_map_files
    from dfviewer.io.png_export import warning_sentence
    from dfviewer.io.tiff_export import tiff_description

    by_stage = {r.stage: r for r in results}
    extra = f"warning: {warning_sentence(warning)}" if warning else ""

    def png_args(item: PlannedFile) -> dict[str, Any]:
        info = MAPS[item.key]
        return dict(colormap=info.colormap, units=info.units, title=f"{stem}, stage {item.stage}, {info.label}",
                    warning=warning)

    files = [item for r in results for item in plan_predictions(out_dir, stem, [r.stage], fmt)]
    return write_map_files(files, lambda item: by_stage[item.stage].full_map(item.key), png_args,
                           lambda item: tiff_description(MAPS[item.key].file_name, item.stage, "", model_name, extra))


def run(args: argparse.Namespace) -> int:
    from dfviewer.core.predictors import open_predictor
    from dfviewer.io import read_radiograph
    from dfviewer.threads import describe

    files, problems = expand_inputs(args.inputs)
    for sentence in problems:
        print(f"dfviewer predict: {sentence}", file=sys.stderr)
    if not files:
        raise UserError("none of the inputs is a radiograph file")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} exists and is not a folder")
    # the inputs and --out are checked before the model is loaded (seconds on a CPU)
    model_path = Path(args.model) if args.model else default_model()
    predictor = open_predictor(model_path, device=args.device, threads=args.threads)
    n_stages = predictor.config.n_stages
    if args.stages and args.stages[-1] > n_stages:
        raise UserError(f"this model has {n_stages} stages, so --stages must lie between 1 and {n_stages}")
    threads = predictor.threads
    print(f"model {model_path.name} on {predictor.device}; {args.mc} MC samples; "
          f"{describe(threads, args.threads)}", file=sys.stderr)

    failures = len(problems)
    total_written = 0
    rows: list[dict[str, str]] = []
    flagged: list[str] = []
    for index, (path, stem) in enumerate(zip(files, output_stems(files)), start=1):
        bar = ProgressLine(f"{index}/{len(files)} {path.name}", unit="samples", log_lines=False)
        try:
            image = read_radiograph(path).pixels
            warning = predictor.input_warning(image)
            score = predictor.domain_score(image)
            if warning:
                flagged.append(str(path))
                print(f"dfviewer predict: warning: {path.name}: {warning}.", file=sys.stderr)
            results = predictor.predict(image, mc_samples=args.mc, working_size=args.working_size,
                                        progress=bar, stages=args.stages, seed=args.seed)
            del image  # 144 MB at the readers' size limit: not held while the maps are written
            bar.close()  # the predictor refuses NaN / infinite maps, so nothing half-valid is written
            out_dir.mkdir(parents=True, exist_ok=True)  # only once there is something to write
            written = write_outputs(results, out_dir, stem, args.fmt, model_path.stem, warning or "")
        except BaseException as exc:
            bar.close()
            if isinstance(exc, STOP_EXCEPTIONS):
                raise
            # One input never stops the batch: a UserError is its own sentence, anything else
            # (a library bug, a Rust decoder's panic) is named by type and first line.
            failures += 1
            reason = _sentence(exc, path)
            print(f"dfviewer predict: {reason}", file=sys.stderr)
            rows.append({"input": str(path), "status": "failed", "reason": reason})
            continue
        total_written += len(written)
        rows.append({"input": str(path), "status": "done", "outputs": str(len(written)),
                     "flagged": "1" if warning else "0", "domain_score": "" if score is None else f"{score:.4g}",
                     "warning": warning or ""})
        if args.fmt == "npz":
            print(shown(f"{path}: wrote {written[0]}"))
        else:
            pattern = out_dir / f"{stem}_stage*_*.{args.fmt}"
            print(shown(f"{path}: wrote {len(written)} maps to {pattern}"))
    ok = len(files) - (failures - len(problems))
    if out_dir.is_dir():  # no folder is made for a run that wrote nothing
        _write_manifest(out_dir / MANIFEST_NAME, rows)
    if flagged:
        print(f"dfviewer predict: {len(flagged)} input(s) flagged as unlike the model's training inputs "
              f"(see {out_dir / MANIFEST_NAME}):", file=sys.stderr)
        for name in flagged:
            print(f"  {name}", file=sys.stderr)
    print(f"done: {ok} of {len(files)} input(s) processed, {len(flagged)} flagged, {total_written} file(s) "
          f"in {out_dir}", file=sys.stderr)
    return 1 if failures else 0


MANIFEST_NAME = "predictions.csv"
_MANIFEST_COLUMNS = ("input", "status", "outputs", "flagged", "domain_score", "warning", "reason")


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    """One row per input: done or failed, how many maps, whether the domain check flagged it, and why."""
    import csv
    import io

    from dfviewer.atomic import atomic_write_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: shown(value) for key, value in row.items()} for row in rows)
    atomic_write_text(path, buffer.getvalue())


def shown(text: object) -> str:
    """``text`` as UTF-8 can hold it: the bytes of a file name that is not UTF-8 as ``\\xff`` escapes."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _sentence(exc: BaseException, path: Path) -> str:
    """The failure's sentence, naming the file when the error itself does not."""
    text = failure_reason(exc)
    if path.name in text:
        return text
    return f"{path}: {text[:1].lower() + text[1:]}"
