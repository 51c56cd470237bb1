"""The fixtures of the member I/O tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.members import LoopRunner, Runner, thread_runner


@pytest.fixture(params=["thread", "event loop"])
def runner(request: pytest.FixtureRequest) -> Iterator[Runner]:
    """Each request path in turn (the sync functions' and fedctl's, and the operator's): a test using it holds
    for both."""
    if request.param == "thread":
        yield thread_runner
        return
    loop_runner = LoopRunner()
    try:
        yield loop_runner
    finally:
        loop_runner.close()
