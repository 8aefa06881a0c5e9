"""The test helper that runs real child processes leaves nothing behind, however a test ends.

A failed subprocess test used to leave its gateway running and its pipe open; with
``filterwarnings = error`` their ResourceWarnings then failed whichever test ran next.
"""

from __future__ import annotations

import gc
import sys
import warnings
from pathlib import Path

import pytest
import trio

from tests.processes import Child, spawn, waiting

pytestmark = pytest.mark.slow

# A child that starts a grandchild, says both pids, and waits for a signal.
PARENT = """
import signal, subprocess, sys
grandchild = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
print("pids", grandchild.pid, flush=True)
signal.pause()
"""


def gone(pid: int) -> bool:
    """The process no longer runs: no such pid, or a zombie nobody reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


async def check_leaves_nothing(*, cancelled: bool) -> None:
    """Start a child (with a grandchild), end the test's body with an error or by
    cancelling it (what a test's time limit does), then look for what is left."""
    child: Child | None = None
    grandchild = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with trio.CancelScope() as scope:
            try:
                async with spawn([sys.executable, "-c", PARENT], name="parent") as child:
                    line = await child.line_with(b"pids")
                    grandchild = int(line.split()[1])
                    if cancelled:
                        scope.cancel()
                        await trio.sleep_forever()
                    raise AssertionError("the test failed")
            except* AssertionError:
                assert not cancelled
        assert scope.cancelled_caught == cancelled
        assert child is not None and grandchild
        pid = child.pid
        assert child.proc.returncode is not None  # reaped
        assert child.proc.stdout is not None
        with pytest.raises(trio.ClosedResourceError):
            await child.proc.stdout.receive_some(1)
        del child
        gc.collect()
    assert gone(pid) and gone(grandchild)
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_a_failing_test_leaves_no_process_and_no_pipe() -> None:
    await check_leaves_nothing(cancelled=False)


async def test_a_test_cut_short_by_its_time_limit_leaves_no_process_and_no_pipe() -> None:
    await check_leaves_nothing(cancelled=True)


async def test_a_child_that_exits_before_its_line_is_reported_with_its_output() -> None:
    code = "import sys; print('cannot start: no config', flush=True); sys.exit(3)"
    async with spawn([sys.executable, "-c", code], name="broken") as child:
        with pytest.raises(RuntimeError, match=r"(?s)broken exited \(3\).*cannot start: no config"):
            await child.line_with(b"listening on ")


async def test_a_wait_that_runs_out_says_what_it_waited_for() -> None:
    async with spawn(
        [sys.executable, "-c", "import signal; print('up', flush=True); signal.pause()"],
        name="quiet",
    ) as child:
        await child.line_with(b"up")
        with pytest.raises(trio.TooSlowError, match=r"waited 0.1 s for quiet to print b'ready'"):
            await child.line_with(b"ready", timeout=0.1)
        with pytest.raises(trio.TooSlowError, match=r"(?s)waited 0.1 s for quiet to exit.*up"):
            await child.exits(timeout=0.1)


async def test_waiting_names_what_it_waited_for(autojump_clock: trio.abc.Clock) -> None:
    with (
        pytest.raises(trio.TooSlowError, match=r"^waited 5 s for 3 of 4 webhooks$"),
        waiting(5, lambda: "3 of 4 webhooks"),
    ):
        await trio.sleep_forever()
