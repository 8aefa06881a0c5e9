"""Real child processes for tests: started, watched, and always killed, reaped and closed.

:func:`spawn` starts a command in its own process group with stdout and stderr on one pipe,
keeps everything it prints (:attr:`Child.output`), and on the way out -- the test passed,
failed, timed out or was cancelled -- kills the group if it still runs, waits for the child
and closes the pipe. A failed test so never leaves a process or an open pipe behind for
``filterwarnings = error`` to turn into the *next* test's failure (``ResourceWarning:
subprocess N is still running``, ``unclosed file``).

Every wait names what it waited for and shows the child's last output when it runs out
(:func:`waiting`). Limits are sized for a loaded CI box: they catch a hang, they do not
measure speed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import trio

__all__ = ["EXIT", "STARTUP", "Child", "GatewayChild", "gateway_process", "spawn", "waiting"]

STARTUP = 120.0
"""Seconds a child gets to print its ready line: a Python start and imports on a box whose
two cores are shared by several test runs (it takes about a second on an idle one)."""
EXIT = 60.0
"""Seconds a child gets to exit after SIGTERM (its own drain limits are shorter)."""


@contextmanager
def waiting(seconds: float, what: str | Callable[[], str]) -> Iterator[None]:
    """``trio.fail_after(seconds)`` whose TooSlowError says what was waited for (``what`` is
    called at the timeout, so it can report how far things got)."""
    try:
        with trio.fail_after(seconds):
            yield
    except trio.TooSlowError as e:
        said = what() if callable(what) else what
        raise trio.TooSlowError(f"waited {seconds:g} s for {said}") from e


class Child:
    """A running child (see :func:`spawn`)."""

    def __init__(self, proc: trio.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.output = bytearray()
        """All it printed so far (stdout and stderr)."""
        self._printed = trio.Event()
        self._ended = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, size: int = 3000) -> str:
        """The last ``size`` bytes it printed, for error messages."""
        text = bytes(self.output[-size:]).decode("utf-8", "replace")
        return f"\n--- last output of {self.name} (pid {self.pid}) ---\n{text}\n---"

    async def _drain(self) -> None:
        assert self.proc.stdout is not None
        try:
            async for chunk in self.proc.stdout:
                self.output += chunk
                self._printed.set()
                self._printed = trio.Event()
        finally:
            self._ended = True
            self._printed.set()

    async def line_with(self, needle: bytes, timeout: float = STARTUP) -> str:
        """Wait until the child printed a whole line containing ``needle``; returns that line.
        Raises TooSlowError (naming the line) after ``timeout``, or RuntimeError with its
        output if it exits first."""
        with waiting(timeout, lambda: f"{self.name} to print {needle!r}{self.tail()}"):
            while True:
                start = self.output.find(needle)
                if start >= 0:
                    end = self.output.find(b"\n", start)
                    if end >= 0:
                        line_start = self.output.rfind(b"\n", 0, start) + 1
                        return bytes(self.output[line_start:end]).decode()
                if self._ended:
                    await self.proc.wait()
                    raise RuntimeError(
                        f"{self.name} exited ({self.proc.returncode}) before printing"
                        f" {needle!r}{self.tail()}"
                    )
                await self._printed.wait()

    async def exits(self, timeout: float = EXIT) -> int:
        """Wait for the child to exit; returns its status. TooSlowError after ``timeout``."""
        with waiting(timeout, lambda: f"{self.name} to exit{self.tail()}"):
            return await self.proc.wait()

    async def terminated(self, timeout: float = EXIT) -> int:
        """SIGTERM, then :meth:`exits`."""
        self.proc.send_signal(signal.SIGTERM)
        return await self.exits(timeout)


@asynccontextmanager
async def spawn(
    argv: Sequence[str],
    *,
    name: str = "",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Child]:
    """Run ``argv`` for the body of the ``async with``. On the way out whatever still runs
    of it is killed (SIGKILL to its process group: a child's own children too), waited for
    and its pipe closed, shielded from cancellation, so nothing outlives the test."""
    proc = await trio.lowlevel.open_process(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    child = Child(proc, name or " ".join(str(a) for a in argv[:4]))
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(child._drain)
            try:
                yield child
            finally:
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            _kill_group(proc)
            await proc.wait()
            assert proc.stdout is not None
            await proc.stdout.aclose()


def _kill_group(proc: trio.Process) -> None:
    """SIGKILL the child's process group (it leads it: ``start_new_session``). Its children
    may still run after it exited, so the group is killed whether or not it did."""
    with contextlib.suppress(ProcessLookupError):  # the group is gone: nothing of it runs
        os.killpg(proc.pid, signal.SIGKILL)


@asynccontextmanager
async def gateway_process(config: Path, *, name: str = "gateway") -> AsyncIterator[GatewayChild]:
    """``smsgw serve -c config`` as a real process, ready (its "listening on" line printed)
    when the body starts; killed and reaped after it (see :func:`spawn`)."""
    argv = [sys.executable, "-m", "smsgw", "serve", "-c", str(config), "--log-level", "warning"]
    async with spawn(argv, name=name) as child:
        line = await child.line_with(b"listening on ")
        yield GatewayChild(child, line.split("listening on ", 1)[1].strip())


class GatewayChild:
    """A started gateway process and its API's base URL."""

    def __init__(self, child: Child, url: str) -> None:
        self.child = child
        self.proc = child.proc
        self.url = url
