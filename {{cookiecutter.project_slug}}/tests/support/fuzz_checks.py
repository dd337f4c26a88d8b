"""A check schemathesis runs on every answer besides its own (loaded by path through
SCHEMATHESIS_HOOKS, see `tests.support.fuzz`): no body tells a client how the code inside
is laid out."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case, CheckContext, Response

# What a Python traceback, or one frame of it, looks like in a body.
TRACEBACK_MARKS = (b"Traceback (most recent call last)", b'File "/', b'.py", line ')


@schemathesis.check
def no_traceback_in_body(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """No answer, whatever its status, carries a traceback or a source file's path."""
    del ctx, case
    found = [mark.decode() for mark in TRACEBACK_MARKS if mark in response.content]
    if found:
        raise AssertionError(f"the body shows a traceback ({found[0]!r})")
    return True
