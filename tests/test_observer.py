"""The viewer model's Signal: weakly held bound methods, strongly held functions, failures logged."""

from __future__ import annotations

import gc
import logging
import weakref

import pytest

from dfviewer.display.observer import Signal


class Subscriber:
    def __init__(self, log: list) -> None:
        self.log = log

    def on_change(self, *args) -> None:
        self.log.append(("method", args))


def test_a_deleted_subscribers_method_is_no_longer_called_and_nothing_fails(caplog):
    calls: list = []
    signal = Signal()
    subscriber = Subscriber(calls)
    signal.connect(subscriber.on_change)
    signal.emit(1)
    assert calls == [("method", (1,))]
    del subscriber
    gc.collect()
    with caplog.at_level(logging.DEBUG, logger="dfviewer.display.observer"):
        signal.emit(2)
    assert calls == [("method", (1,))]
    assert len(signal) == 0 and not caplog.records


def test_the_signal_does_not_keep_a_subscriber_alive():
    signal = Signal()
    subscriber = Subscriber([])
    signal.connect(subscriber.on_change)
    alive = weakref.ref(subscriber)
    del subscriber
    gc.collect()
    assert alive() is None


def test_lambdas_and_functions_are_held_strongly():
    calls: list = []
    signal = Signal()
    signal.connect(lambda x: calls.append(("lambda", x)))

    def local(x):
        calls.append(("function", x))

    signal.connect(local)
    del local
    gc.collect()
    signal.emit(7)
    assert calls == [("lambda", 7), ("function", 7)]
    assert len(signal) == 2


def test_a_failing_callback_is_logged_and_the_next_one_still_runs(caplog):
    calls: list = []
    signal = Signal()

    def broken(x):
        raise RuntimeError(f"view broke on {x}")

    subscriber = Subscriber(calls)
    signal.connect(lambda x: calls.append(("first", x)))
    signal.connect(broken)
    signal.connect(subscriber.on_change)
    with caplog.at_level(logging.ERROR, logger="dfviewer.display.observer"):
        signal.emit(3)
    assert calls == [("first", 3), ("method", (3,))]
    [record] = caplog.records
    assert record.levelno == logging.ERROR and "broken" in record.getMessage()
    assert record.exc_info is not None and str(record.exc_info[1]) == "view broke on 3"


def test_disconnect_stops_a_method_or_a_function_and_refuses_a_stranger():
    calls: list = []
    signal = Signal()
    subscriber = Subscriber(calls)

    def function(x):
        calls.append(("function", x))

    signal.connect(subscriber.on_change)
    signal.connect(function)
    signal.disconnect(subscriber.on_change)  # a fresh bound method object, equal to the connected one
    signal.emit(1)
    signal.disconnect(function)
    signal.emit(2)
    assert calls == [("function", 1)]
    with pytest.raises(ValueError):
        signal.disconnect(function)


def test_a_builtin_bound_method_is_held_as_it_is():
    """Methods of C types (a list's append, a Qt widget's setText) cannot be held weakly: held strongly."""
    seen: list = []
    signal = Signal()
    signal.connect(seen.append)
    signal.emit("x")
    assert seen == ["x"]
