"""``@pytest.mark.alone``: under pytest-xdist, the test runs while no other test of the run does.

A few tests time something the machine's load decides as much as the code does (health probes answering
within 50 ms while a 100,000-row request runs). ``make test`` runs the suite on several workers on two
cores, so any test may find the CPU taken by its neighbours; a test marked ``alone`` gets the machine the
run was given, as it would in a serial run, and asserts the same numbers.

The workers of one run share a readers-writer lock made of two ``flock`` files in the run's temporary
folder: every test holds ``room.lock`` shared from its setup to its teardown; an ``alone`` test takes it
exclusively, so it starts once the tests running elsewhere have ended. ``turnstile.lock`` keeps it from
waiting forever behind a stream of new tests: it holds the turnstile while it waits and runs, and each
other test passes through the turnstile before taking its shared hold. Alone tests that follow each other
on a worker (parametrized twins) keep the room between them instead of waiting for it twice. The kernel
releases both when a worker dies. Outside xdist (a plain ``pytest``) nothing is locked.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest


def _lock(stack: ExitStack, path: Path, mode: int) -> None:
    handle = stack.enter_context(open(path, "a"))  # noqa: SIM115 - the stack closes it, which unlocks it
    fcntl.flock(handle, mode)


def _alone(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker("alone") is not None


_held: list[ExitStack] = []  # the exclusive hold, kept from an alone test through the alone tests right after it


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outermost: the wait is not counted in the test's timeout
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if getattr(item.config, "workerinput", None) is None:  # not an xdist worker: nothing runs beside this test
        yield
        return
    folder = Path(item.config.option.basetemp).parent  # xdist gives each worker <the run's basetemp>/popen-gwN
    if _alone(item):
        if not _held:
            hold = ExitStack()
            _lock(hold, folder / "turnstile.lock", fcntl.LOCK_EX)  # no new test starts from here on
            _lock(hold, folder / "room.lock", fcntl.LOCK_EX)  # the running ones have ended
            _held.append(hold)
        try:
            yield
        finally:
            if not _alone(nextitem):  # a next alone one (a parametrized twin) keeps the room, not waits again
                _held.pop().close()
        return
    with ExitStack() as shared:
        with ExitStack() as turnstile:
            _lock(turnstile, folder / "turnstile.lock", fcntl.LOCK_EX)  # waits while an alone test is due
        _lock(shared, folder / "room.lock", fcntl.LOCK_SH)
        yield
