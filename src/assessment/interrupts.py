"""A run stopped by a signal (SIGTERM, SIGINT, SIGHUP) is handled like a crash, not left half-done.

A service manager stops a job with SIGTERM, a closed terminal sends SIGHUP, an analyst presses
Ctrl-C. The default for the first two is to die on the spot: no message, the staging folder left
behind, the stage kernel left to its own devices. While `assessment run`/`validate`/`batch` works,
these signals raise :class:`Terminated` in the main thread instead, so the pipeline's cleanup runs
(kernels stopped, staging removed, `<year>.failed/failure.md` written, lock released) and the
command prints one line and exits 1 — the exit code of every failure that is not bad input
(DESIGN.md, "Command line"); the signal is named in the message and in failure.md. A second
signal while that cleanup runs is ignored, so the cleanup is not itself cut short (SIGKILL still
works, and the next run cleans up after it).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))
SIGNAL_ZH = {"SIGTERM": "终止信号", "SIGINT": "中断（Ctrl-C）", "SIGHUP": "终端挂断信号"}


class Terminated(BaseException):
    """The run was stopped by a signal. A BaseException, so no `except Exception` on the way swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    def describe(self) -> str:
        return f"收到{SIGNAL_ZH.get(self.name, '信号')} {self.name}，运行已终止（terminated by {self.name}）"

    def __str__(self) -> str:
        return self.describe()


_state = threading.local()


def _handler(signum, frame) -> None:
    if getattr(_state, "fired", False):
        return  # already stopping: let the cleanup finish
    _state.fired = True
    raise Terminated(signum)


@contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM/SIGINT/SIGHUP raise :class:`Terminated` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(SIGNALS[0]) is _handler:
        yield  # not the main thread (no signals there), or already inside such a block
        return
    previous = {}
    _state.fired = False
    for sig in SIGNALS:
        try:
            previous[sig] = signal.signal(sig, _handler)
        except (ValueError, OSError):  # not settable here
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _state.fired = False


def hold() -> None:
    """From here on, further signals are ignored (the cleanup after the first one is running)."""
    _state.fired = True
