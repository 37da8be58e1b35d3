"""The one Ctrl-C handling of ``train`` and ``generate``: stop gently, then at once; the old handlers come back."""

from __future__ import annotations

import signal
import threading

import pytest

from dfviewer.cli.interrupt import STOP_SIGNALS, stop_on_signals


def _custom(signum, frame) -> None:  # a handler someone else had set before the run
    raise AssertionError("the previous handler must not run inside the block")


@pytest.fixture
def custom_handlers():
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, _custom)
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("first", STOP_SIGNALS, ids=lambda s: s.name)
def test_the_first_signal_asks_to_stop_and_the_handlers_come_back(first, custom_handlers):
    said = []
    with stop_on_signals(threading.Event(), lambda: said.append("stopping")) as stop:
        signal.raise_signal(first)
        assert stop.is_set() and said == ["stopping"]
    # train's own handler used to stay installed after the run: now the caller's are back
    assert all(signal.getsignal(sig) is _custom for sig in STOP_SIGNALS)


def test_a_second_signal_interrupts_at_once_and_restores_the_handlers(custom_handlers):
    said = []
    with pytest.raises(KeyboardInterrupt):
        with stop_on_signals(threading.Event(), lambda: said.append("stopping")):
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
            pytest.fail("the second Ctrl-C did not interrupt")
    assert said == ["stopping"]
    assert all(signal.getsignal(sig) is _custom for sig in STOP_SIGNALS)


def test_the_handlers_come_back_when_the_run_fails(custom_handlers):
    with pytest.raises(RuntimeError):
        with stop_on_signals(threading.Event(), lambda: None):
            raise RuntimeError("the run failed")
    assert all(signal.getsignal(sig) is _custom for sig in STOP_SIGNALS)


def test_off_the_main_thread_the_block_runs_with_the_handlers_as_they_are(custom_handlers):
    seen = []

    def work() -> None:
        with stop_on_signals(threading.Event(), lambda: None) as stop:
            seen.append((stop.is_set(), signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [(False, _custom)]
