"""The reader processes of ``generate``: order, bounded prefetch, failures, a reader's death, and no lingering."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest
from _dfv_procs import alive

from dfviewer.core.reader_pool import ReaderPool

PLAN = [[0, 1, 2], [3, 4], [5], [6, 7, 8, 9]]


def _read(index: int) -> tuple[int, int]:
    if index == 4:
        raise ValueError("pixel data truncated")
    if index == 6:
        os._exit(3)  # a decoder that takes the process down with it
    return index, os.getpid()


def _failed(index: int, sentence: str) -> tuple[int, str]:
    return index, sentence


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_come_in_plan_order_with_failures_in_place(workers):
    if workers == 0:
        plan = [[i for i in batch if i != 6] for batch in PLAN]  # in this process the exit would end the test
    else:
        plan = PLAN
    with ReaderPool(_read, _failed, workers) as pool:
        got = list(pool.batches(plan))
        pids = pool.pids
    assert [[item[0] for item in batch] for batch in got] == plan
    flat = {item[0]: item[1] for batch in got for item in batch}
    assert flat[4] == "It could not be read or processed (ValueError: pixel data truncated)."
    readers = {v for k, v in flat.items() if k not in (4, 6)}
    if workers == 0:
        assert readers == {os.getpid()}
    else:
        assert flat[6].startswith("the reader process ended while reading it")
        assert os.getpid() not in readers and len(readers) == 3  # two readers, and one in place of the dead one
        assert len(pids) == 2 and not any(alive(pid) for pid in pids)  # closed: none lingers


def test_prefetch_is_bounded_and_an_abandoned_run_ends_its_readers():
    reads = multiprocessing.get_context("fork").Value("i", 0)

    def counted(index: int) -> int:
        with reads.get_lock():
            reads.value += 1
        time.sleep(0.05)
        return index

    pool = ReaderPool(counted, _failed, workers=2, prefetch=2)
    batches = pool.batches([[i] for i in range(100)])
    assert next(batches) == [0]
    time.sleep(1.0)  # time enough to read all 100: the readers may read only 2 each ahead
    assert reads.value == 4
    pids = pool.pids
    assert len(pids) == 2
    batches.close()  # the consumer stops early (Ctrl-C after a batch)
    start = time.monotonic()
    pool.close()
    assert time.monotonic() - start < 2.0
    assert not any(alive(pid) for pid in pids)


PARENT = """
import sys, time
from dfviewer.core.reader_pool import ReaderPool
def busy(index):
    time.sleep(120)  # a reader deep in a long read: it sees no closed pipe
    return index
pool = ReaderPool(busy, lambda i, s: s, workers=2)
batches = pool.batches([[0, 1]])
import threading
threading.Thread(target=lambda: next(batches), daemon=True).start()
time.sleep(0.5)
print(*pool.pids, flush=True)
time.sleep(120)
"""


def test_readers_busy_reading_die_with_a_parent_killed_by_sigkill():
    import signal
    import subprocess
    import sys

    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        end = time.monotonic() + 3.0
        while any(alive(pid) for pid in pids) and time.monotonic() < end:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in pids), "a reader outlived its killed parent"
    finally:
        parent.kill()
        parent.communicate()


def _resample_threads(index: int) -> tuple[int, int]:
    import threading

    import numpy as np

    from dfviewer.core.resampling import resample_array

    resample_array(np.ones((2048, 2048), np.float32), (1024, 1024))  # large enough to share a pass
    return index, sum(t.name.startswith("dfviewer-resample") for t in threading.enumerate())


def test_a_reader_resamples_on_its_own_thread_as_the_policy_counts_it():
    from dfviewer.core import resampling

    resampling.set_threads(4)
    try:
        assert _resample_threads(0)[1] >= 1  # the main process does share a large pass (budget 4: 3 helpers)
        with ReaderPool(_resample_threads, _failed, 1) as pool:
            got = [item for batch in pool.batches([[1, 2]]) for item in batch]
    finally:
        resampling.set_threads(None)
    assert got == [(1, 0), (2, 0)]
