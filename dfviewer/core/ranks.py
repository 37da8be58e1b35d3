"""Several processes sharing one run, without torch: rank and world size from any launcher's environment
(torchrun, srun with ``RANK``/``WORLD_SIZE`` set, a shell loop) and file-based meeting points in a folder
all ranks can see (``generate``'s store).

A rank that finished says so with a small file named by the run and its rank; rank 0 waits for
every rank's file before it merges the index. The run's name comes from the launcher's environment
(``DFVIEWER_RUN_ID`` when set, else torchrun's and Slurm's job ids and the rendezvous address), so
the ranks of one launch agree on it without talking to each other.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dfviewer.atomic import atomic_write_text

#: how often a waiting rank looks again
POLL_SECONDS = 0.2
#: the folder of the meeting files inside the shared folder
RANKS_DIR = ".ranks"
_RUN_KEYS = ("DFVIEWER_RUN_ID", "TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT", "SLURM_JOB_ID",
             "SLURM_STEP_ID", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE")


@dataclass(frozen=True)
class DistEnv:
    """This process's place among the processes of a run (a single process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def distributed_env(environ: Mapping[str, str] | None = None) -> DistEnv:
    """Rank, world size and local rank from ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (torchrun sets them)."""
    env = os.environ if environ is None else environ
    world = int(env.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return DistEnv()
    return DistEnv(int(env.get("RANK", "0") or 0), world, int(env.get("LOCAL_RANK", "0") or 0))


def rank_device(name: str, env: DistEnv) -> str:
    """The ``--device`` of this rank: its own GPU (``cuda:LOCAL_RANK``) when several ranks share CUDA, else ``name``."""
    if env.active and str(name).strip().lower() in ("auto", "cuda"):
        try:
            import onnxruntime as ort

            from dfviewer.core.runtime_session import CUDA

            if CUDA in ort.get_available_providers():
                return f"cuda:{env.local_rank}"
        except ImportError:
            pass
    return name


def run_token(environ: Mapping[str, str] | None = None) -> str:
    """A name the ranks of one launch share: from the launcher's environment (see the module doc)."""
    env = os.environ if environ is None else environ
    text = "\n".join(f"{key}={env.get(key, '')}" for key in _RUN_KEYS)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _done_file(folder: Path, token: str, rank: int) -> Path:
    return Path(folder) / RANKS_DIR / f"{token}-rank{rank}.done"


def forget_done(folder: Path, env: DistEnv, token: str | None = None) -> None:
    """Remove this rank's finished-file of this run left by a killed launch of the same name (call at the start)."""
    if env.active:
        _done_file(folder, token or run_token(), env.rank).unlink(missing_ok=True)


def mark_done(folder: Path, env: DistEnv, token: str | None = None) -> None:
    """Say that this rank has finished writing (its shards are closed)."""
    if env.active:
        path = _done_file(folder, token or run_token(), env.rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, f"{os.getpid()}\n")


def wait_for_ranks(folder: Path, env: DistEnv, token: str | None = None,
                   waiting: Callable[[list[int]], None] | None = None) -> None:
    """On rank 0: wait until every other rank has marked itself done, then remove the meeting files.

    ``waiting(ranks)`` is called once when some ranks are still working after the first look.
    """
    if not env.active or not env.main:
        return
    token = token or run_token()
    told = False
    while True:
        left = [r for r in range(1, env.world) if not _done_file(folder, token, r).exists()]
        if not left:
            break
        if not told and waiting is not None:
            waiting(left)
            told = True
        time.sleep(POLL_SECONDS)
    for r in range(env.world):
        _done_file(folder, token, r).unlink(missing_ok=True)
    try:
        (Path(folder) / RANKS_DIR).rmdir()  # only when no other run's files are in it
    except OSError:
        pass


def wait_for_file(path: Path, ready: Callable[[], bool] | None = None) -> None:
    """Wait until ``path`` exists (and ``ready()`` holds): another rank is writing it."""
    while not Path(path).exists() or (ready is not None and not ready()):
        time.sleep(POLL_SECONDS)


__all__ = ["DistEnv", "POLL_SECONDS", "RANKS_DIR", "distributed_env", "forget_done", "mark_done", "rank_device",
           "run_token", "wait_for_file", "wait_for_ranks"]
