"""The demo's process stack: Ctrl-C stops it even when a library swallows the interrupt."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.demo.processes import running_stack


def test_an_interrupt_a_library_swallows_still_stops_the_session(tmp_path: Path) -> None:
    """Ctrl-C raises KeyboardInterrupt at once; if something swallows it, the next check raises it again."""
    # Given a running stack, and code that swallows KeyboardInterrupt (as a library call did in CI)
    before = signal.getsignal(signal.SIGINT)
    with running_stack(tmp_path) as stack:
        # When the session gets Ctrl-C inside that code
        with contextlib.suppress(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)

        # Then the next check stops the session
        with pytest.raises(KeyboardInterrupt, match="signal 2"):
            stack.check()

    # And the previous SIGINT handler is back once the stack has stopped
    assert stack.interrupted == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is before
