"""Reader processes for ``generate``: images read and prepared beside the model, in order, torch-free.

:class:`ReaderPool` hands image ``k`` of the plan to reader ``k % N`` and takes the results back in
the same order, at most ``prefetch`` images ahead per reader (bounded memory). Readers ignore Ctrl-C
(the main process stops after its batch), die with their parent (Linux ``PR_SET_PDEATHSIG``, and a
parent-pid watch everywhere), and never wait forever on a pipe nobody reads: closing the pool closes
the pipes and kills a reader that does not end at once. A reader that dies on an image (a crashing
decoder) turns that image into a failure and is replaced; the run goes on.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: how often a reader checks that its parent still lives (the fallback where prctl is missing)
PARENT_CHECK_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1
_DIED = "the reader process ended while reading it (the file may crash the image decoder)"


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` ends: the kernel's death signal on Linux, else a watching thread."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="dfviewer-parent-watch", daemon=True).start()


def _serve(conn: Any, read: Callable[[int], Any], parent: int, inherited: Sequence[Any]) -> None:
    """A reader's loop: an index in, ``("ok", item)`` or ``("error", sentence)`` out, until the pipe closes.

    ``inherited``: the main process's ends of the pipes, copied by fork; closed here so that the
    main process's death (or its closing the pipe) reads as end-of-file in every reader.
    """
    from dfviewer.core import resampling
    from dfviewer.errors import failure_reason

    resampling.set_threads(1)  # the thread policy counts one core per reader
    for other in inherited:
        other.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group: the main process decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)
    while True:
        try:
            index = conn.recv()
        except (EOFError, OSError):
            break
        if index is None:
            break
        try:
            reply: tuple[str, Any] = ("ok", read(index))
        except BaseException as exc:  # noqa: BLE001 - the main process turns it into the image's failure
            reply = ("error", failure_reason(exc))
        try:
            conn.send(reply)
        except (OSError, ValueError):  # the main process closed the pool
            break
    conn.close()


def _context() -> Any:
    # fork: the readers start at once and share the loaded modules; resampling's helper threads are
    # rebuilt in the child (dfviewer.core.resampling checks the pid). Elsewhere: spawn.
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


class ReaderPool(Generic[T]):
    """``read(i)`` for the images of a plan, in its order, in ``workers`` processes (0: in this process).

    ``failed(i, sentence)`` stands in for an image whose reader raised or died. Use it as a context
    manager (or call :meth:`close`): the readers end with it. Linux ties the death signal to the
    thread that started a reader: iterate on a thread that outlives the pool (``generate``: the main one).
    """

    def __init__(self, read: Callable[[int], T], failed: Callable[[int, str], T], workers: int,
                 prefetch: int = 2) -> None:
        self.read = read
        self.failed = failed
        self.workers = max(0, int(workers))
        self.prefetch = max(1, int(prefetch))
        self._procs: list[Any] = []
        self._conns: list[Any] = []

    def __enter__(self) -> ReaderPool[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p is not None and p.pid is not None]

    def batches(self, plan: Sequence[Sequence[int]]) -> Iterator[list[T]]:
        """The items of each batch of ``plan``, batch by batch."""
        if self.workers == 0:
            for batch in plan:
                yield [self._read_here(i) for i in batch]
            return
        order = [i for batch in plan for i in batch]
        if not order:  # nothing left to read (a finished store resumed): no readers started
            return
        for slot in range(self.workers):
            self._start(slot)
        pending: deque[tuple[int, int]] = deque()  # (image, reader) sent and not yet taken back
        sent = 0
        for batch in plan:
            items = []
            for _ in batch:
                while sent < len(order) and len(pending) < self.workers * self.prefetch:
                    slot = sent % self.workers
                    self._send(slot, order[sent])
                    pending.append((order[sent], slot))
                    sent += 1
                index, slot = pending.popleft()
                items.append(self._take(index, slot, pending))
            yield items

    def _read_here(self, index: int) -> T:
        from dfviewer.errors import STOP_EXCEPTIONS, failure_reason

        try:
            return self.read(index)
        except BaseException as exc:  # noqa: BLE001 - as in a reader process
            if isinstance(exc, STOP_EXCEPTIONS):
                raise
            return self.failed(index, failure_reason(exc))

    def _take(self, index: int, slot: int, pending: deque[tuple[int, int]]) -> T:
        conn, proc = self._conns[slot], self._procs[slot]
        while not conn.poll(PARENT_CHECK_SECONDS):
            if not proc.is_alive() and not conn.poll(0):
                break
        try:
            kind, value = conn.recv()
        except (EOFError, OSError):
            # the reader died on this image: a new one takes over the images it still had
            self._stop(slot)
            self._start(slot)
            for later, other in pending:
                if other == slot:
                    self._send(slot, later)
            return self.failed(index, _DIED)
        return value if kind == "ok" else self.failed(index, value)

    def _send(self, slot: int, index: int) -> None:
        try:
            self._conns[slot].send(index)
        except OSError:  # the reader died: taking its current image back finds out, and resends the rest
            pass

    def _start(self, slot: int) -> None:
        ctx = _context()
        here, there = ctx.Pipe(duplex=True)
        forked = ctx.get_start_method() == "fork"
        inherited = [c for k, c in enumerate(self._conns) if k != slot and not c.closed] + [here] if forked else []
        proc = ctx.Process(target=_serve, args=(there, self.read, os.getpid(), inherited),
                           name=f"dfviewer-reader-{slot}", daemon=True)
        proc.start()
        there.close()  # only the reader holds its end: its death reads as end-of-file here
        if slot < len(self._procs):
            self._procs[slot], self._conns[slot] = proc, here
        else:
            self._procs.append(proc)
            self._conns.append(here)

    def _stop(self, slot: int) -> None:
        self._end([slot])

    def _end(self, slots: Sequence[int], wait: float = 1.0) -> None:
        for slot in slots:
            try:
                self._conns[slot].close()  # a reader waiting for work or sending a result sees it and ends
            except OSError:
                pass
        deadline = time.monotonic() + wait
        for slot in slots:
            proc = self._procs[slot]
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():  # busy on a large image: not worth waiting for
                proc.kill()
                proc.join()

    def close(self) -> None:
        """End the readers (at most about a second for one busy on a large image)."""
        self._end(range(len(self._procs)))
        self._procs.clear()
        self._conns.clear()


__all__ = ["PARENT_CHECK_SECONDS", "ReaderPool", "die_with_parent"]
