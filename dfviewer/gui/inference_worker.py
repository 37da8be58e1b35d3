"""One dedicated inference thread that owns the model and the device.

:class:`InferenceWorker` is a QObject living in its own QThread; the GUI hands it jobs through
a queued signal and hears back through signals (preview, running MC updates, progress,
finished, cancelled, failed). Each job carries its own ``threading.Event``: setting it makes
the predictor stop within one sample. :class:`InferenceController` (GUI thread) owns the
thread, numbers the jobs so stale updates can be ignored, and shuts the thread down cleanly.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from dfviewer.core.config import MC_SEED
from dfviewer.core.results import DEFAULT_MC_SAMPLES
from dfviewer.errors import UserError, cause
from dfviewer.threads import CpuSample, apply_threads, describe

#: seconds between two result updates sent to the GUI (progress is sent for every sample)
UPDATE_INTERVAL = 0.3


@dataclass
class InferenceJob:
    job_id: int
    image: np.ndarray
    model_path: str
    device: str = "auto"
    mc_samples: int = DEFAULT_MC_SAMPLES
    working_size: int | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    threads: int = 0  # CPU compute threads; 0: automatic, from the cores free when the job starts
    seed: int = MC_SEED  # the dropout seed: as ``dfviewer predict``'s default, so both give the same maps


def describe_error(exc: BaseException, model_path: str = "", loading: bool = False) -> str:
    """One plain sentence for the error dialog (``loading``: the checkpoint was being loaded)."""
    if isinstance(exc, UserError):
        text = " ".join(str(exc).split()).rstrip(".") or "no reason was given"
        if loading:
            return f"The model could not be loaded: {text}."
        return (text[0].upper() + text[1:] if text.split()[0].isalpha() else text) + "."
    name = type(exc).__name__
    if name == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return ("The GPU ran out of memory; choose a smaller working resolution or fewer MC samples, "
                "or run on the CPU (Edit > Preferences).")
    if isinstance(exc, FileNotFoundError):
        return f"The model file {model_path} was not found."
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory; choose a smaller working resolution."
    return f"The model failed while generating the dark-field ({cause(exc)})."


class InferenceWorker(QObject):
    """Runs jobs one after another in its thread; caches the loaded predictor."""

    modelLoaded = pyqtSignal(object)  # dict: path, device, preset, metadata ...
    update = pyqtSignal(int, object, int, int, bool)  # job id, stages, done, total, preview
    progress = pyqtSignal(int, int, int, float)  # job id, done, total, seconds left (-1: unknown)
    finished = pyqtSignal(int, float)  # job id, seconds
    cancelled = pyqtSignal(int)
    failed = pyqtSignal(int, str, str)  # job id, sentence, details
    inputWarning = pyqtSignal(int, str)  # job id, sentence: the image is not in the model's input units
    log = pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__()
        self._predictor: Any = None
        self._predictor_key: tuple[str, ...] | None = None
        #: loads a predictor: ``factory(path, device, threads)``; replaceable (e.g. a remote model)
        self.predictor_factory = _load_predictor
        #: the compute threads the last job ran with
        self.threads = 0

    @pyqtSlot(object)
    def use_predictor(self, predictor: Any) -> None:
        """Use an already built predictor for the next jobs (whatever their model path)."""
        self._predictor = predictor
        self._predictor_key = ("<given>", "<given>")

    @pyqtSlot(object)
    def run(self, job: InferenceJob) -> None:
        start = time.monotonic()
        loading = True
        try:
            if job.cancel.is_set():
                raise _cancelled()
            cpu = CpuSample.now()  # the free cores are measured over the model loading, when there is one
            predictor = self._get_predictor(job)
            loading = False
            # on this thread, before the job's first operation: OpenMP keeps the thread count per thread;
            # an ONNX Runtime session took its threads when it was made (for this job's setting)
            self.threads = getattr(predictor, "threads", None) or apply_threads(job.threads or None, cpu)
            self.log.emit(f"computing with {describe(self.threads, job.threads)}")
            self._run(job, predictor, start)
        except BaseException as exc:  # noqa: BLE001 - everything must reach the GUI
            if type(exc).__name__ == "PredictionCancelled":
                self.log.emit(f"inference cancelled after {time.monotonic() - start:.1f} s")
                self.cancelled.emit(job.job_id)
                return
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            message = describe_error(exc, job.model_path, loading)
            self.log.emit(f"error: {message}")
            self.failed.emit(job.job_id, message, details)
            _free_gpu_memory()

    def _get_predictor(self, job: InferenceJob) -> Any:
        key = (str(job.model_path), str(job.device), str(job.threads))
        if self._predictor is not None and self._predictor_key in (key, ("<given>", "<given>")):
            return self._predictor
        self._predictor = None
        _free_gpu_memory()
        t0 = time.monotonic()
        predictor = self.predictor_factory(job.model_path, job.device, job.threads or None)
        self._predictor, self._predictor_key = predictor, key
        info = model_info(predictor, job.model_path)
        self.log.emit(f"model {Path(job.model_path).name} loaded on {info['device']} in {time.monotonic() - t0:.1f} s")
        self.modelLoaded.emit(info)
        return predictor

    def _run(self, job: InferenceJob, predictor: Any, start: float) -> None:
        warning = predictor.input_warning(job.image)
        if warning:
            sentence = warning[0].upper() + warning[1:] + "."
            self.log.emit(f"warning: {sentence}")
            self.inputWarning.emit(job.job_id, sentence)
        stream = predictor.predict_stream(job.image, mc_samples=job.mc_samples,
                                          working_size=job.working_size, cancel=job.cancel, seed=job.seed)
        last_emit = 0.0
        mc_start: float | None = None
        first_done = 0
        for prediction in stream:
            now = time.monotonic()
            done, total = prediction.samples_done, prediction.samples_total
            if prediction.preview:
                self.update.emit(job.job_id, prediction.stages, done, total, True)
                self.log.emit(f"preview ready in {now - start:.2f} s")
                last_emit = now
                mc_start = now
                continue
            if mc_start is None:
                mc_start = now
            if first_done == 0:
                first_done = done
            rate = (now - mc_start) / done if done else 0.0
            left = rate * (total - done) if done else -1.0
            self.progress.emit(job.job_id, done, total, left)
            if done >= total or now - last_emit >= UPDATE_INTERVAL:
                stages = prediction.stages
                if job.cancel.is_set() and done < total:
                    raise _cancelled()
                self.update.emit(job.job_id, stages, done, total, False)
                last_emit = time.monotonic()
        elapsed = time.monotonic() - start
        self.log.emit(f"inference finished: {job.mc_samples} MC samples in {elapsed:.1f} s")
        self.finished.emit(job.job_id, elapsed)


def _cancelled() -> BaseException:
    from dfviewer.core.results import PredictionCancelled

    return PredictionCancelled("prediction cancelled")


def _load_predictor(path: str, device: str, threads: int | None = None) -> Any:
    from dfviewer.core.predictors import open_predictor

    return open_predictor(path, device=device, threads=threads)


def _free_gpu_memory() -> None:
    if "torch" not in sys.modules:  # the runtime predictor never loads it
        return
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort
        pass


def model_info(predictor: Any, path: str) -> dict[str, Any]:
    """What the model dock shows about a loaded predictor."""
    config = getattr(predictor, "config", None)
    device = getattr(predictor, "device", "?")
    device_name = str(device)
    # a torch device only (a runtime predictor's device is a name): torch is not loaded for a name
    if getattr(device, "type", "") == "cuda" and "torch" in sys.modules:
        try:
            import torch

            device_name = f"{device} ({torch.cuda.get_device_name(device)})"
        except Exception:  # noqa: BLE001
            pass
    return {
        "path": str(path),
        "device": device_name,
        "preset": getattr(config, "preset", "?"),
        "n_stages": getattr(config, "n_stages", "?"),
        "working_size": getattr(config, "working_size", "?"),
        "config": config,
        "metadata": dict(getattr(predictor, "metadata", {}) or {}),
    }


class InferenceController(QObject):
    """GUI-thread handle on the inference thread: start, cancel, shut down."""

    _submit = pyqtSignal(object)
    _give_predictor = pyqtSignal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker_thread = QThread()
        self.worker_thread.setObjectName("dfviewer-inference")
        self.worker = InferenceWorker()
        self.worker.moveToThread(self.worker_thread)
        self._submit.connect(self.worker.run)
        self._give_predictor.connect(self.worker.use_predictor)
        self.worker_thread.start()
        self._next_id = 0
        self.current: InferenceJob | None = None

    @property
    def running(self) -> bool:
        return self.current is not None

    def start(self, image: np.ndarray, model_path: str, device: str, mc_samples: int,
              working_size: int | None, threads: int = 0) -> int:
        """Cancel any running job and queue a new one (``threads`` 0: automatic); returns its id."""
        self.cancel()
        self._next_id += 1
        job = InferenceJob(self._next_id, image, str(model_path), device, int(mc_samples), working_size,
                           threads=int(threads))
        self.current = job
        self._submit.emit(job)
        return job.job_id

    def use_predictor(self, predictor: Any) -> None:
        """Hand a built predictor to the worker (it is used for the next jobs)."""
        self._give_predictor.emit(predictor)

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel.set()
            self.current = None

    def is_current(self, job_id: int) -> bool:
        return self.current is not None and self.current.job_id == job_id

    def job_done(self, job_id: int) -> None:
        if self.is_current(job_id):
            self.current = None

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel, stop the thread and wait for it; True when it stopped in time."""
        self.cancel()
        self.worker_thread.quit()
        return bool(self.worker_thread.wait(timeout_ms))
