"""The thread policy: how many compute threads to use, and how idle threads wait.

On a shared machine torch's default (one OpenMP thread per core, each spinning while it waits
for the others) made a prediction 5-9x slower beside busy processes: a thread whose core is
taken holds up the rest at the end of every operation while they burn the free core spinning.
The policy:

* idle OpenMP threads spin only briefly, then sleep (``OMP_WAIT_POLICY=PASSIVE`` with
  ``GOMP_SPINCOUNT=3000``, which torch's libgomp reads once, when torch is first imported:
  :func:`set_wait_policy` runs at start-up). libgomp's default spins 300000 turns, which burns a
  taken core; no spin at all was 10-15 % slower on an idle machine (a wake-up at every operation),
  3000 turns as fast as the default idle (docs/evaluation/thread_policy.md);
* "automatic" threads are the cores this process may use that other processes leave free,
  sampled from ``/proc/stat`` just before the work starts (``/proc/loadavg`` lags by a minute);
* processes started together (torchrun's local ranks) share those cores, and a process's own
  reader processes (``generate --workers``) get cores of their own (:func:`threads_per_process`);
* a number the user gives (``--threads``, Edit > Preferences) is used as given.

Every command that runs a model (predict, evaluate, generate, train) and the viewer follow it.

Torch is imported only inside functions, so the viewer and the command line can import this
module before torch.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

#: the most compute threads a user may ask for (``--threads``, the Preferences)
MAX_THREADS = 256
#: the environment set at start-up unless the user set either variable (a user's choice of one is kept whole)
WAIT_POLICY = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "3000"}
#: a core counts as free when other processes leave at least this share of it idle
FREE_SHARE = 0.5
#: the shortest /proc/stat sample worth reading (5 clock ticks per core at 100 Hz)
MIN_WINDOW_S = 0.05
#: an older starting sample is replaced: the load it would average over is stale
MAX_WINDOW_S = 5.0


def set_wait_policy(environ: MutableMapping[str, str] | None = None) -> bool:
    """Make idle OpenMP threads sleep after a short spin, unless the user chose a wait policy or spin
    count; True when it can take effect.

    It must run before torch is imported: the OpenMP runtime reads the environment once.
    """
    env = os.environ if environ is None else environ
    if not any(name in env for name in WAIT_POLICY):
        env.update(WAIT_POLICY)
    return "torch" not in sys.modules


def choose_threads(allowed: int, free: float | None, requested: int | None = None) -> int:
    """Compute threads: ``requested`` when the user gave a number (> 0), else the free cores.

    ``allowed`` is the cores this process may use, ``free`` how many of them other processes
    leave idle (None: unknown, all of them). Never fewer than one.
    """
    if requested:
        return max(1, int(requested))
    allowed = max(1, int(allowed))
    if free is None:
        return allowed
    return max(1, min(allowed, math.floor(free + FREE_SHARE)))


def threads_per_process(allowed: int, free: float | None, requested: int | None = None, *,
                        processes: int = 1, readers: int = 0) -> int:
    """Compute threads of one of ``processes`` processes started together on this machine (torchrun's
    local ranks), each with ``readers`` reader processes of its own; ``requested`` (> 0) is used as given.

    Otherwise the free cores (:func:`choose_threads`) are shared among the processes and each
    process's readers get cores of their own. The other local processes start beside this one, so
    the sample counts up to ``processes - 1`` of their cores as taken: they are given back to the group.
    """
    if requested:
        return max(1, int(requested))
    processes = max(1, int(processes))
    if free is not None and processes > 1:
        free += processes - 1
    return max(1, choose_threads(allowed, free) // processes - max(0, int(readers)))


def local_processes(environ: Mapping[str, str] | None = None) -> int:
    """How many processes torchrun started on this machine (``LOCAL_WORLD_SIZE``); 1 outside torchrun."""
    env = os.environ if environ is None else environ
    try:
        if int(env.get("WORLD_SIZE", "1") or 1) <= 1:
            return 1
        return max(1, int(env.get("LOCAL_WORLD_SIZE", "1") or 1))
    except ValueError:
        return 1


def allowed_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup CPU quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, math.ceil(quota))) if quota else max(1, cores)


def _cgroup_quota() -> float | None:
    """Cores allowed by cgroup v2 ``cpu.max`` ("max 100000" when unlimited), None when there is no quota."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class CpuSample:
    """Busy and total clock ticks of the allowed cores, and this process's CPU seconds, at one moment."""

    busy: int
    total: int
    cores: int
    own_s: float
    at: float

    @classmethod
    def now(cls) -> CpuSample | None:
        """A sample from ``/proc/stat``; None where there is none (not Linux) or it cannot be read."""
        try:
            cpus = os.sched_getaffinity(0)
            text = Path("/proc/stat").read_text()
        except (AttributeError, OSError):
            return None
        busy = total = cores = 0
        for line in text.splitlines():
            name, _, rest = line.partition(" ")
            if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
                continue
            # user nice system idle iowait irq softirq steal (guest time is already in user)
            ticks = [int(v) for v in rest.split()[:8]]
            ticks += [0] * (8 - len(ticks))
            busy += sum(ticks) - ticks[3] - ticks[4]
            total += sum(ticks)
            cores += 1
        if not cores:
            return None
        times = os.times()
        return cls(busy, total, cores, times.user + times.system, time.monotonic())


def busy_elsewhere(start: CpuSample, end: CpuSample) -> float | None:
    """Cores kept busy by other processes between two samples (this process's own work left out)."""
    ticks = end.total - start.total
    if ticks <= 0 or end.cores != start.cores:
        return None
    window_s = ticks / end.cores / _clock_ticks()
    own_cores = (end.own_s - start.own_s) / window_s
    return min(float(end.cores), max(0.0, (end.busy - start.busy) / ticks * end.cores - own_cores))


def free_cores(since: CpuSample | None = None) -> float | None:
    """How many allowed cores other processes leave free now; None when it cannot be measured.

    Measured over the time since ``since`` (a sample taken when the work was asked for, so the
    model loading overlaps it), sleeping to make the window at least :data:`MIN_WINDOW_S`.
    A ``since`` older than :data:`MAX_WINDOW_S` is replaced by a fresh sample.
    """
    if since is None or time.monotonic() - since.at > MAX_WINDOW_S:
        since = CpuSample.now()
        if since is None:
            return None
    wait = MIN_WINDOW_S - (time.monotonic() - since.at)
    if wait > 0:
        time.sleep(wait)
    end = CpuSample.now()
    busy = None if end is None else busy_elsewhere(since, end)
    if busy is None or end is None:
        return None
    return max(0.0, end.cores - busy)


def apply_threads(requested: int | None = None, since: CpuSample | None = None, *,
                  processes: int = 1, readers: int = 0) -> int:
    """Set torch's compute threads by the policy for the calling thread's next operations; returns the number.

    Call it on the thread that runs the model: OpenMP keeps the thread count per calling thread.
    ``processes`` and ``readers`` as in :func:`threads_per_process`.
    """
    free = None if requested else free_cores(since)
    threads = threads_per_process(allowed_cores(), free, requested, processes=processes, readers=readers)
    if "torch" not in sys.modules:  # ONNX Runtime's sessions take their threads when made; torch stays unloaded
        return threads
    import torch

    torch.set_num_threads(threads)
    _set_interop_threads()
    return torch.get_num_threads()  # as torch now reports it for this thread


def _set_interop_threads() -> None:
    """One inter-op thread: dfviewer runs one model at a time, so a pool per core only idles."""
    import torch

    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # allowed once, before any inter-op work: already started or set
        pass


def describe(threads: int, requested: int | None = None) -> str:
    """A short phrase for logs: "2 threads (automatic)" or "4 threads (as asked)"."""
    how = "as asked" if requested else "automatic"
    return f"{threads} thread{'s' if threads != 1 else ''} ({how})"


def _clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK")) or 100
    except (AttributeError, ValueError, OSError):
        return 100
