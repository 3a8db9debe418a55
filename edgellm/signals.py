"""SIGINT and SIGTERM stop a run the same way: an exception that unwinds every stage, so temporary folders go.

``stop_on_signals()`` (the CLI wraps each command in it) makes SIGTERM raise ``Terminated``, as SIGINT raises
``KeyboardInterrupt``. A signal that lands in a library callback (a garbage-collection or ``__del__`` hook, where
Python prints "Exception ignored" and carries on) is remembered: ``check()``, called between stages and before
an output folder is put in place, raises it again, so the run still stops and writes nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as shells report them


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException like KeyboardInterrupt: ``except Exception`` does not stop it)."""


_received: signal.Signals | None = None


def _raise(signum: int) -> None:
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


def _handler(signum: int, frame) -> None:
    global _received
    _received = signal.Signals(signum)
    _raise(signum)


def check() -> None:
    """Raise the signal received earlier whose exception a library callback swallowed; nothing otherwise."""
    if _received is not None:
        _raise(_received)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT -> KeyboardInterrupt, SIGTERM -> Terminated inside the block (main thread only; elsewhere a no-op)."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received = None
    previous = {s: signal.signal(s, _handler) for s in EXIT_CODES}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _received = None
