"""An HTTP proxy in front of a real server that holds one chosen request: the client waits for
its answer until the test releases it, so that a test can kill the client at a known step.

A training run is stopped this way between registering its version and the gate's first look
at the registry (the `champion` alias), in front of a real `mlflow server`: a point a poll of
the registry could only race for. Every other request is forwarded as it came, one per
connection (`Connection: close`: the client reconnects for the next).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from {{ cookiecutter.package_name }}.demo.processes import free_port

HEAD_END = b"\r\n\r\n"


@dataclass
class Hold:
    """Once a request matching `after` has been answered (from the start when None), the next
    one matching `hold` is held (only that one: later requests pass, whatever they are)."""

    after: tuple[str, str] | None  # (method, a part of the path)
    hold: tuple[str, str]
    armed: bool = False
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    seen: list[str] = field(default_factory=list)


def _matches(line: str, rule: tuple[str, str]) -> bool:
    method, _, rest = line.partition(" ")
    return method == rule[0] and rule[1] in rest.split(" ", 1)[0]


def _read_request(connection: socket.socket) -> tuple[bytes, bytes] | None:
    """The request's head and body (by Content-Length), or None once the client has closed."""
    data = b""
    while HEAD_END not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(HEAD_END, 1)
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head, body


def _closing(head: bytes) -> bytes:
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + HEAD_END


def _forward(head: bytes, body: bytes, upstream: int) -> bytes:
    with socket.create_connection(("127.0.0.1", upstream), timeout=120) as server:
        server.sendall(_closing(head) + body)
        answer = b""
        while chunk := server.recv(65536):
            answer += chunk
    return answer


def _serve(connection: socket.socket, upstream: int, rule: Hold) -> None:
    with connection:
        found = _read_request(connection)
        if found is None:
            return
        head, body = found
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        rule.seen.append(line)
        armed = rule.armed or rule.after is None
        if armed and not rule.held.is_set() and _matches(line, rule.hold):  # held once only
            rule.held.set()
            rule.release.wait()  # the client waits for an answer that never comes
            return
        connection.sendall(_forward(head, body, upstream))
        if rule.after is not None and _matches(line, rule.after):
            rule.armed = True


@contextmanager
def holding_proxy(upstream: int, rule: Hold) -> Iterator[str]:
    """A proxy to 127.0.0.1:`upstream` on a free port (its URL), applying `rule`; on the way
    out the held request is released (closed unanswered) and the proxy stops."""
    listener = socket.create_server(("127.0.0.1", free_port()))
    listener.settimeout(0.5)
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            with suppress(TimeoutError):
                connection, _ = listener.accept()
                connection.settimeout(None)
                threading.Thread(target=_serve, args=(connection, upstream, rule), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopping.set()
        rule.release.set()
        acceptor.join(timeout=5)
        listener.close()
