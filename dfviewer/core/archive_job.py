"""Archive-scale generation: maps for every image of a collection into a sharded store, resumable.

:func:`generate` is the run loop behind ``dfviewer generate``. Source images are numbered by
their place in the source list; shard ``k`` holds images ``k*N .. k*N+N-1`` and batches never
cross a shard, so every image meets the same batch companions whichever process (torchrun rank)
computes it and however often the run was interrupted: with a fixed seed and batch size the
store is bit-identical. Image ``i``'s dropout masks come from a seed derived from (seed, i).

Reader processes (:mod:`~dfviewer.core.reader_pool`, no torch) read, decode, normalise and resize
(:mod:`~dfviewer.core.archive_sources`) while the model computes on ONNX Runtime; each batch shares
graph runs (MC samples of several images per run, see :meth:`RuntimePredictor.predict_batch`).
Several processes (torchrun, or any launcher's ``RANK``/``WORLD_SIZE``) meet through files in the
store (:mod:`~dfviewer.core.ranks`): rank 0 merges the index once every rank is done. A bad image becomes an index row
with its reason. :func:`generate` reads what the store already holds and skips it (failed images
too, unless ``retry_failed``: then they are tried again into a new part of their shard, and a
success replaces the failure in the index); a temporary
(half-written) shard file left by a killed run is removed and redone.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.core import ranks
from dfviewer.core import store as st
from dfviewer.core import store_check as sc
from dfviewer.core.archive_sources import SourceImages, SourceItem, item_reason
from dfviewer.core.ranks import DistEnv
from dfviewer.core.reader_pool import ReaderPool
from dfviewer.core.results import DEFAULT_MC_SAMPLES, MAP_NAMES, StageResult
from dfviewer.core.runtime_predictor import RuntimePredictor as Predictor
from dfviewer.errors import STOP_EXCEPTIONS, UserError, cause, failure_reason
from dfviewer.threads import allowed_cores


def default_workers() -> int:
    """Reader processes by default: none on 2 cores or fewer, else one.

    Measured on an idle 2-core machine (16 radiographs, T = 20, batch 4): 2 compute threads and
    no reader 0.63 images/s, 2 threads + 1 reader 0.53, 1 thread + 1 reader 0.43; a reader's
    decoding, lung mask and domain check take cores the convolutions need. The compute threads
    follow :func:`dfviewer.threads.threads_per_process` (the readers get cores of their own).
    """
    return 0 if allowed_cores() <= 2 else 1


def image_seed(seed: int, index: int) -> int:
    """The dropout seed of image ``index`` in a run seeded ``seed`` (independent streams)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index)]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31 | int(state[1]) >> 1) % (2**62)


@dataclasses.dataclass
class GenerateOptions:
    maps: list[str]  # of MAP_NAMES
    stages: list[int]
    mc: int = DEFAULT_MC_SAMPLES
    size: int | None = None  # stored longer side; None: the model's working size
    dtype: str = "float16"
    seed: int = 0
    batch_size: int = 4
    workers: int = 1
    shard_size: int = 64
    precision: str = "float32"  # the compute precision, as recorded in the store: ONNX Runtime runs float32
    retry_failed: bool = False  # on a resumed store, try the images that failed before again

    def map_names(self) -> list[str]:
        """Names of the stored maps, in stored order: ``stage3_mean``, ``stage3_epistemic``, ..."""
        return [f"stage{s}_{m}" for s in self.stages for m in self.maps]


@dataclasses.dataclass
class Summary:
    total: int = 0  # images in the source list
    done: int = 0  # computed in this run (this process)
    failed: int = 0
    seconds: float = 0.0
    stopped: bool = False  # Ctrl-C: stopped after a batch
    stored_bytes: int = 0

    @property
    def images_per_second(self) -> float:
        return (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0


# --- planning ---------------------------------------------------------------------------------


def plan_batches(n: int, shard_size: int, batch_size: int, env: DistEnv, done: set[int]) -> list[list[int]]:
    """This rank's batches: fixed groups of ``batch_size`` within each of its shards, done images left out.

    Shard ``k`` goes to rank ``k % world``: no padding, no image twice, the union is everything.
    """
    batches: list[list[int]] = []
    n_shards = (n + shard_size - 1) // shard_size
    for shard in range(env.rank, n_shards, env.world):
        first, last = shard * shard_size, min(n, (shard + 1) * shard_size)
        for start in range(first, last, batch_size):
            batch = [i for i in range(start, min(last, start + batch_size)) if i not in done]
            if batch:
                batches.append(batch)
    return batches


def prepare_store(store: Path, sources: list[str], settings: dict[str, Any], env: DistEnv,
                  notes: Callable[[str], None]) -> tuple[list[str], dict[str, Any]]:
    """Create the store or check a resumed one's settings; the source list to use (rank 0 writes)."""
    store = Path(store)
    try:
        return _prepare_store(store, sources, settings, env, notes)
    except OSError as exc:  # a name too long, no permission, ...: one sentence
        raise st.StoreError(f"--out {store} cannot be used as a store ({exc.strerror or cause(exc)})") from None


def _prepare_store(store: Path, sources: list[str], settings: dict[str, Any], env: DistEnv,
                   notes: Callable[[str], None]) -> tuple[list[str], dict[str, Any]]:
    if store.exists() and not store.is_dir():
        raise st.StoreError(f"--out {store} exists and is not a folder")
    old = st.read_settings(store) if store.is_dir() else None
    if old is None and store.is_dir() and any(store.iterdir()) and not (store / st.SHARDS_DIR).is_dir():
        raise st.StoreError(f"--out {store} is a folder holding other files; give a new or empty folder for the store")
    if old is None and st.shard_files(store):
        sc.expected_for(store)  # refuses: shards made with settings nobody knows now
    if old is not None:
        stored = st.read_sources(store)
        if stored is None:
            raise st.StoreError(f"{store} has settings but no {st.SOURCES_NAME}; the store is damaged")
        if stored != sources:
            extra = len(set(sources) - set(stored))
            notes(f"the store lists {len(stored)} source images from its first run; they are used "
                  f"({extra} image(s) found now are not part of it; generate them into a new store)")
        sources = stored
        settings = dict(settings, n_sources=len(sources), sources_sha256=st.sources_digest(sources))
        if old.get("sources_sha256") != settings["sources_sha256"]:
            sc.expected_for(store)  # refuses: sources.json is not the list the settings were made with
        mismatch = st.settings_mismatch(old, settings)
        if mismatch:
            raise st.StoreError(f"{store} was made with other settings ({'; '.join(mismatch)}); resume it with "
                                "the same options or use a new --out folder")
        if old.get("batch_size") != settings.get("batch_size"):
            notes(f"--batch-size {settings.get('batch_size')} differs from the store's first run "
                  f"({old.get('batch_size')}): new images match those of a single run with this batch size")
        return sources, old
    settings = dict(settings, n_sources=len(sources), sources_sha256=st.sources_digest(sources))
    if env.main:
        (store / st.SHARDS_DIR).mkdir(parents=True, exist_ok=True)
        st.write_sources(store, sources)
        st.write_settings(store, settings)
    return sources, settings


# --- the run ----------------------------------------------------------------------------------


def generate(
    predictor: Predictor,
    sources: list[str],
    store: Path,
    options: GenerateOptions,
    env: DistEnv | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    notes: Callable[[str], None] = lambda text: None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> Summary:
    """Generate the maps of ``sources`` into ``store`` (this rank's share); see the module doc.

    ``progress(done, todo)`` after each batch; a set ``stop`` event ends the run after the
    current batch, the shard so far kept (finished as a part file). The caller has checked the
    store with :func:`prepare_store`. Rank 0 writes the index at the end (after the others).
    """
    env = env or DistEnv()
    store = Path(store)
    token = ranks.run_token()
    ranks.forget_done(store, env, token)
    try:
        summary = _generate_share(predictor, sources, store, options, env, progress, stop, notes, on_row)
    finally:
        ranks.mark_done(store, env, token)  # also when this rank failed: rank 0 must not wait for it forever
    ranks.wait_for_ranks(store, env, token, lambda left: notes(
        f"waiting for {len(left)} other process(es) to finish before the index is written"))
    if env.main:
        merged = sc.merge_index(store, sc.expected_for(store))
        summary.stored_bytes = sum(int(r.get("stored_bytes") or 0) for r in merged)
    return summary


def _generate_share(predictor: Predictor, sources: list[str], store: Path, options: GenerateOptions, env: DistEnv,
                    progress: Callable[[int, int], None] | None, stop: threading.Event | None,
                    notes: Callable[[str], None], on_row: Callable[[dict[str, Any]], None] | None) -> Summary:
    """This rank's shards written (the index is left to :func:`generate`)."""
    size = int(options.size or predictor.config.working_size)
    expected = sc.expected_for(store)
    for text in _redo_half_written(store, options, env):
        notes(text)
    rows = _check_resumed(store, expected, env, notes)
    finished = {int(r["index"]) for r in rows if r["status"] == "done" or (r.get("reason") and not options.retry_failed)}
    summary = Summary(total=len(sources))
    batches = plan_batches(len(sources), options.shard_size, options.batch_size, env, finished)
    todo = sum(len(b) for b in batches)
    parts = _next_parts(store)
    images = SourceImages(sources, predictor.config, size, predictor.domain)
    writer: st.ShardWriter | None = None
    start = time.perf_counter()
    try:
        with ReaderPool(images, images.failed, options.workers) as readers:
            for batch in readers.batches(batches):
                shard = batch[0].index // options.shard_size
                if writer is None or writer.shard != shard:
                    if writer is not None:
                        writer.close()
                    part = parts.get(shard, 0)
                    parts[shard] = part + 1
                    writer = st.ShardWriter(store, shard, part, options.map_names(), size, options.dtype,
                                            expected.digest).open()
                _run_batch(predictor, batch, options, size, writer, summary, on_row)
                _release_free_memory()
                if progress is not None:
                    progress(summary.done + summary.failed, todo)
                if stop is not None and stop.is_set():
                    summary.stopped = True
                    break
        if writer is not None:
            writer.close()
            writer = None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        summary.seconds = time.perf_counter() - start
    return summary


def _run_batch(predictor: Predictor, batch: list[SourceItem], options: GenerateOptions, size: int,
               writer: st.ShardWriter, summary: Summary, on_row: Callable[[dict[str, Any]], None] | None) -> None:
    good = [item for item in batch if item.prepared is not None]
    t0 = time.perf_counter()
    results: list[list[StageResult] | UserError] = []
    if good:
        prepared = [item.prepared for item in good if item.prepared is not None]
        try:
            results = predictor.predict_batch(
                prepared, mc_samples=options.mc, seeds=[image_seed(options.seed, item.index) for item in good],
                stages=options.stages, out_shapes=[item.out_shape for item in good])
        except BaseException as exc:  # noqa: BLE001 - e.g. out of memory: this batch fails, the run goes on
            if isinstance(exc, STOP_EXCEPTIONS):
                raise
            results = [UserError(failure_reason(exc)) for _ in good]
    share = (time.perf_counter() - t0) / max(1, len(good))
    outcome = dict(zip((item.index for item in good), results))
    for item in batch:
        row: dict[str, Any] = {
            "index": item.index, "path": item.path, "sha256": item.sha256,
            "source_height": item.prepared.shape[0] if item.prepared else None,
            "source_width": item.prepared.shape[1] if item.prepared else None,
            "domain_score": item.domain_score,
            "flagged": None if item.domain_score is None or predictor.domain is None
            else bool(item.domain_score > predictor.domain.threshold),
            "warning": item.warning, "seconds": item.seconds,
        }
        result = outcome.get(item.index)
        maps = None
        if item.reason is None and isinstance(result, list):
            maps = np.stack([r.full_map(name) for r in result for name in options.maps]).astype(np.float32)
            beyond = stored_range_problem(maps, options.dtype)
            if beyond:
                result = UserError(beyond)
        if item.reason is not None or not isinstance(result, list) or maps is None:
            reason = item.reason or item_reason(result if isinstance(result, BaseException) else UserError("no result"),
                                            item.path)
            row = writer.add_failure(row, reason)
            summary.failed += 1
        else:
            row["seconds"] = item.seconds + share
            row.update(_lung_summaries(result[-1], item.lungs, item.lungs_found))
            row = writer.add(row, maps)
            summary.done += 1
        if on_row is not None:
            on_row(row)


def stored_range_problem(maps: np.ndarray, dtype: str) -> str | None:
    """Why ``maps`` cannot be stored as ``dtype``, or None: the check applies to the values as stored.

    A finite float32 map beyond float16's 65504 would be stored as infinity. Such an image is
    refused with this reason rather than switching the store to float32: a store keeps one dtype
    (its settings and every shard say so), and the reason tells how to keep such values.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        stored = maps.astype(dtype)
    if bool(np.isfinite(stored).all()):
        return None
    peak = float(np.max(np.abs(maps[np.isfinite(maps)]), initial=0.0))
    return (f"its maps reach {peak:.4g}, beyond the largest {dtype} value ({float(np.finfo(dtype).max):.6g}), "
            "so they cannot be stored in this store; generate into a new --out folder with --dtype float32")


_LIBC: Any = None


def _release_free_memory() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``) after each batch.

    Measured: without it the main process's RSS wandered between 354 and 464 MiB from batch to
    batch and grew over a run (395 MiB after 20 images, 582 MiB after 60): freed activations
    left in fragmented heap arenas, not a leak; after ``malloc_trim(0)`` it stayed at 262 MiB.
    """
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes
            import ctypes.util

            name = ctypes.util.find_library("c")
            _LIBC = ctypes.CDLL(name) if name else False
            if _LIBC is not False and not hasattr(_LIBC, "malloc_trim"):
                _LIBC = False
        except OSError:
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


def _lung_summaries(result: StageResult, lungs: np.ndarray | None, found: bool) -> dict[str, Any]:
    mask = lungs if lungs is not None and lungs.shape == result.mean.shape and lungs.any() else None

    def mean_in(array: np.ndarray) -> float:
        return float(array[mask].mean()) if mask is not None else float(array.mean())

    return {"lungs_found": bool(found and mask is not None), "lung_darkfield": mean_in(result.mean),
            "lung_aleatoric": mean_in(result.aleatoric), "lung_epistemic": mean_in(result.epistemic)}


def _check_resumed(store: Path, expected: sc.Expected, env: DistEnv,
                   notes: Callable[[str], None]) -> list[dict[str, Any]]:
    """The rows of the good shards; this rank's damaged shards are removed (redone). A shard made
    with other settings, or one that is not a file, stops the run with one sentence."""
    rows: list[dict[str, Any]] = []
    for path in st.shard_files(store):
        parsed = st.parse_shard_name(path.name)
        mine = parsed is not None and parsed[0] % env.world == env.rank
        check = sc.shard_check(path, expected, deep=mine)  # this rank reads its own shards' maps back
        if check.kind in (sc.FOREIGN, sc.NOT_A_FILE):
            raise st.StoreError(f"{store}: {check.problem}; move it out of the store (or use a new --out folder)")
        if check.kind == sc.DAMAGED:
            if mine:
                notes(f"{check.problem}; its images are generated again")
                path.unlink()
            continue
        rows.extend(check.rows)
    return rows


def _redo_half_written(store: Path, options: GenerateOptions, env: DistEnv) -> list[str]:
    """Remove this rank's temporary shard files (a killed run's half-written shards)."""
    texts = []
    for path in st.temp_files(store):
        shard = st.parse_temp_name(path.name)
        if shard is not None and shard % env.world == env.rank:
            if path.is_dir() or not (path.is_file() or path.is_symlink()):
                raise st.StoreError(f"{store}: {path.name} is named like a half-written shard but is not a file; "
                                    "move it out of the store")
            path.unlink(missing_ok=True)
            texts.append(f"shard {shard} was half-written when a run stopped; it is generated again")
    return texts


def _next_parts(store: Path) -> dict[int, int]:
    parts: dict[int, int] = {}
    for path in st.shard_files(store):
        parsed = st.parse_shard_name(path.name)
        if parsed is not None:
            parts[parsed[0]] = max(parts.get(parsed[0], 0), parsed[1] + 1)
    return parts


def settings_for(predictor: Predictor, model_path: Path, model_sha256: str, options: GenerateOptions,
                 n_sources: int) -> dict[str, Any]:
    return {
        "format": st.FORMAT_VERSION,
        "model": str(model_path),
        "model_sha256": model_sha256,
        "maps": list(options.maps),
        "stages": list(options.stages),
        "map_names": options.map_names(),
        "mc": int(options.mc),
        "size": int(options.size or predictor.config.working_size),
        "working_size": int(predictor.config.working_size),
        "dtype": options.dtype,
        "seed": int(options.seed),
        "shard_size": int(options.shard_size),
        "batch_size": int(options.batch_size),
        "precision": options.precision,
        "n_sources": int(n_sources),
        "units": "maps in the target's units (mean: -ln(V/V0) dark-field; sigmas and alpha alike; beta unitless)",
    }


def check_maps(names: Sequence[str]) -> list[str]:
    bad = [n for n in names if n not in MAP_NAMES]
    if bad or not names:
        raise UserError(f"--maps takes names from {', '.join(MAP_NAMES)} separated by commas, not {','.join(names)!r}")
    return list(dict.fromkeys(names))
