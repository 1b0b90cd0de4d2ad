"""Child processes of the benchmark scripts, stopped however a script ends.

``start()`` puts every child in a process group of its own (a new session), so a
gunicorn master and its workers are one group; ``stop()`` sends the whole group
SIGTERM, then SIGKILL after a grace period, and reaps the child. A script runs its
``main`` through ``guarded()``: SIGINT, SIGTERM and SIGHUP become an exception, so every
``finally`` runs, and whatever child is still registered when ``main`` ends (normally,
by an exception or by a signal) is stopped; ``atexit`` does the same as a last resort.
Ctrl-C in a terminal reaches only the script, since the children are in other groups:
the script stops them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE = 10.0  # seconds between SIGTERM and SIGKILL

_running: list[subprocess.Popen[t.Any]] = []


class Interrupted(BaseException):
    """A signal asked the script to stop (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def start(argv: t.Sequence[str], **kwargs: t.Any) -> subprocess.Popen[t.Any]:
    """Start ``argv`` in a new session, so in its own process group, and register it."""
    process = subprocess.Popen(argv, start_new_session=True, **kwargs)
    _running.append(process)
    return process


def _reaped(process: subprocess.Popen[t.Any]) -> bool:
    if process.returncode is not None:
        return True
    try:
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped by someone else (os.wait4)
        return True
    return False


def exited(process: subprocess.Popen[t.Any]) -> bool:
    """Whether the child has exited, without reaping it.

    An unreaped child keeps its pid, and so its process group id: signalling the group
    cannot reach a process of someone else that got the number again.
    """
    if process.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _signal_group(process: subprocess.Popen[t.Any], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, signum)


def stop(process: subprocess.Popen[t.Any], grace: float = GRACE) -> None:
    """SIGTERM to the child's whole group, SIGKILL after ``grace`` s, then reap the child.

    A child already reaped (``run()`` or ``os.wait4``) is only unregistered: its pid may
    have been given to another process since.
    """
    if not _reaped(process):
        _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while not exited(process) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(process, signal.SIGKILL)  # what is left of the group, the leader at most a zombie
        process.wait()
    if process in _running:
        _running.remove(process)


def stop_all() -> None:
    """Stop every child still registered; a second signal does not cut this short."""
    if not _running:
        return
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    for process in list(_running):
        stop(process)


atexit.register(stop_all)


def run(argv: t.Sequence[str], what: str, timeout: float, **kwargs: t.Any) -> str:
    """Run ``argv`` to its end in its own process group and return its standard output.

    A timeout or a non-zero exit ends the script with a ``SystemExit`` naming ``what``
    (with the end of the child's standard error for a failure).
    """
    process = start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{what} did not finish within {timeout:g} s") from None
    finally:
        stop(process)
    if process.returncode:
        raise SystemExit(f"{what} failed (exit {process.returncode}):\n{err[-3000:]}")
    return t.cast(str, out)


def _interrupt(signum: int, frame: object) -> None:
    for other in SIGNALS:
        signal.signal(other, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
    raise Interrupted(signum)


def guarded(main: t.Callable[[], int | None]) -> int:
    """Run ``main`` with signals turned into ``Interrupted``; stop every child at the end.

    Returns the exit code: ``main``'s, or 128 + the signal number after a signal.
    ``SystemExit`` and other exceptions go through, after the children are stopped.
    """
    for signum in SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # as under nohup: leave it ignored
            signal.signal(signum, _interrupt)
    try:
        return main() or 0
    except (Interrupted, KeyboardInterrupt) as stopped:
        number = stopped.signum if isinstance(stopped, Interrupted) else signal.SIGINT
        print(f"{Path(sys.argv[0]).name}: stopped by {signal.Signals(number).name}", file=sys.stderr)
        return 128 + number
    finally:
        stop_all()
