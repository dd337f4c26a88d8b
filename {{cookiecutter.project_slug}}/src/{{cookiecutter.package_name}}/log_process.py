"""The prediction log written by a process of its own, beside the worker.

The worker sends each request's rows down a socket as one orjson document and
awaits the child's acknowledgement, which the child sends only once the rows are
committed: an answer that left the server is still in the log, also when the
worker is killed a moment later. Inside the child, `log_writer.LogWriter` shares
commits between the requests that arrive together and puts answers before
shadow rows, as it does in a worker that writes its log itself (`writer="thread"`).

Why a process: a worker's Python runs on one core at a time (the GIL), and a
writer thread's Python work (building a commit's rows and values) shares it with
the event loop. Here the worker's share is one `orjson.dumps` and one send per
request and the acknowledgements; the rows, the SQL and the commit run in
another process. It costs more CPU in all (encoding, the socket, decoding) and a
round trip per request (about 1 ms at 100 rows). On 2 cores, side by side, it
served 0 to 18% more than the thread at 100 records per request (three runs,
benchmarks/serving), within the machine's noise in two of them, so the thread
is the default (`PREDICTION_LOG__WRITER=process` selects this one).

If the child dies, the requests waiting on it fail (the service answers 503,
nothing is answered unlogged) and the next write starts a new child, at most
once per `restart_every_s`. A request cancelled after its rows were sent is
logged all the same: the log may hold an answer its caller never received,
never the reverse.

Wire format, both directions: frames of a header (job id, kind, payload length)
and a payload. The worker sends the configuration first (job 0), then rows
(`URGENT` for answers, `BACKGROUND` for shadow rows); the child answers each job
with `DONE` or `FAILED` and the error's text.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import orjson

from .log_writer import LogWriter
from .predictions import BATCH_FIELDS, PredictionBatch, PredictionLog, PredictionLogError, PredictionRow
from .sqlstore import finite

log = logging.getLogger(__name__)

HEADER = struct.Struct("!QBI")  # job id, kind, payload bytes
CONFIGURE, URGENT, BACKGROUND, DONE, FAILED = range(5)
# A socket buffer that holds seconds of a busy worker's rows, so that sending never waits
# for the child while it commits (the kernel caps it at net.core.wmem_max).
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
RESTART_EVERY_S = 1.0
# Rows waiting to be sent beyond this (the child stalled) fail at once instead of piling up.
MAX_BACKLOG_BYTES = 64 * 1024 * 1024
CLOSE_TIMEOUT_S = 30.0


# Marks a payload written by the standard library, which orjson would read back lossily
# (it reads an integer beyond 64 bits as a float).
STDLIB_JSON = b"\x00"


def encode_rows(rows: Sequence[PredictionRow]) -> bytes:
    """A request's rows as one JSON document: a batch's columns (the service's case), else a
    list of rows. What orjson refuses (an integer beyond 64 bits in a record) goes the
    standard library's way, as the log's own JSON does."""
    document: Any = rows.columns() if isinstance(rows, PredictionBatch) else rows
    try:
        return orjson.dumps(document)
    except (orjson.JSONEncodeError, TypeError):
        shallow = document if isinstance(document, dict) else list(document)
        return STDLIB_JSON + json.dumps(finite(shallow), default=_iso, allow_nan=False).encode()


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def decode_rows(payload: bytes) -> Sequence[PredictionRow]:
    stdlib = payload.startswith(STDLIB_JSON)
    document = json.loads(payload[len(STDLIB_JSON) :]) if stdlib else orjson.loads(payload)
    if isinstance(document, dict):
        document["logged_at"] = datetime.fromisoformat(document["logged_at"])
        document["event_times"] = [datetime.fromisoformat(t) if t else None for t in document["event_times"]]
        return PredictionBatch(**{name: document[name] for name in BATCH_FIELDS})
    for row in document:
        row["logged_at"] = datetime.fromisoformat(row["logged_at"])
        row["occurred_at"] = datetime.fromisoformat(row["occurred_at"])
    return cast(list[PredictionRow], document)


def _frame(job: int, kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(job, kind, len(payload)) + payload


def _frames(sock: socket.socket) -> Iterator[tuple[int, int, bytes]]:
    """The frames the other side sends, until it closes its end."""
    buffer = bytearray()
    while True:
        while len(buffer) >= HEADER.size:
            job, kind, length = HEADER.unpack_from(buffer)
            end = HEADER.size + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[HEADER.size : end])
            del buffer[:end]
            yield job, kind, payload
        chunk = sock.recv(1024 * 1024)
        if not chunk:
            return
        buffer += chunk


class _Child:
    """One child process, its socket, and the jobs it has not acknowledged yet."""

    def __init__(self, config: bytes) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for end in (parent, child):
            with contextlib.suppress(OSError):
                end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER_BYTES)
                end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER_BYTES)
        # The package's own folder first: in a Bento it travels as source, not installed.
        source = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(child.fileno())], pass_fds=[child.fileno()], env=env
            )
        finally:
            child.close()
        self.sock = parent
        self.pending: dict[int, Future[None]] = {}
        self.lock = threading.Lock()
        self.alive = True
        # Frames the socket could not take at once, in order, for the flusher thread.
        self.backlog: collections.deque[bytes] = collections.deque()
        self.backlog_bytes = 0
        self.flushing = False
        self.sending = threading.Condition()
        self.broken: OSError | None = None
        self.closing = False
        self.flusher = threading.Thread(target=self._flush, name="log-process-send", daemon=True)
        self.flusher.start()
        self._transmit(_frame(0, CONFIGURE, config))
        self.reader = threading.Thread(target=self._read, name="log-process-acks", daemon=True)
        self.reader.start()

    def send(self, job: int, done: Future[None], urgent: bool, payload: bytes) -> None:
        with self.lock:
            if not self.alive:
                _complete(done, PredictionLogError("the prediction log process exited"))
                return
            if self.backlog_bytes > MAX_BACKLOG_BYTES:
                behind = self.backlog_bytes // 2**20
                _complete(done, PredictionLogError(f"the prediction log process is {behind} MB behind"))
                return
            self.pending[job] = done
        self._transmit(_frame(job, URGENT if urgent else BACKGROUND, payload))

    def _transmit(self, frame: bytes) -> None:
        """Send without ever waiting (the caller may be the event loop): what the socket cannot
        take now goes to the backlog, and every later frame behind it, to keep their order."""
        with self.sending:
            if self.broken is None and not self.backlog and not self.flushing:
                try:
                    sent = self.sock.send(frame, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                except OSError as err:  # the child is gone; the reader fails what it had
                    self.broken = err
                    return
                if sent == len(frame):
                    return
                frame = frame[sent:]
            self.backlog.append(frame)
            self.backlog_bytes += len(frame)
            self.sending.notify()

    def _flush(self) -> None:
        """Send the backlog, waiting for the child as long as it takes (off the event loop)."""
        while True:
            with self.sending:
                while not self.backlog and not self.closing:
                    self.sending.wait()
                if not self.backlog:
                    return
                frames = list(self.backlog)
                self.backlog.clear()
                self.flushing = True
            try:
                for frame in frames:
                    self.sock.sendall(frame)
            except OSError as err:
                with self.sending:
                    self.broken = err
                    self.backlog.clear()
                return
            finally:
                with self.sending:
                    self.backlog_bytes -= sum(len(frame) for frame in frames)
                    self.flushing = False

    def _settle(self, job: int, error: BaseException | None) -> None:
        with self.lock:
            done = self.pending.pop(job, None)
        if done is not None:
            _complete(done, error)

    def _read(self) -> None:
        """The acknowledgements; once the child exits, whatever it had not acknowledged fails."""
        with contextlib.suppress(OSError):
            for job, kind, payload in _frames(self.sock):
                if job == 0 and kind == FAILED:
                    log.error("the prediction log process cannot open the log: %s", payload.decode())
                    continue
                self._settle(job, None if kind == DONE else PredictionLogError(payload.decode()))
        with self.lock:
            self.alive = False
            orphans = list(self.pending)
        self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=CLOSE_TIMEOUT_S)
        if orphans:
            log.error("the prediction log process exited with %d commit(s) unconfirmed", len(orphans))
        for job in orphans:
            self._settle(job, PredictionLogError("the prediction log process exited before committing"))

    def close(self, timeout: float) -> None:
        with self.sending:
            self.closing = True
            self.sending.notify()
        self.flusher.join(timeout=timeout)  # the backlog goes out first
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)  # the child reads to the end, commits, exits
        self.reader.join(timeout=timeout)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _complete(done: Future[None], error: BaseException | None) -> None:
    """Complete a job's future (with `error`, unless None), unless its request gave up on it."""
    with contextlib.suppress(InvalidStateError):
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


class LogProcess:
    """A child process that writes the prediction log; `write` has `LogWriter.write`'s
    contract: a future that completes once the rows are committed, or fails."""

    def __init__(
        self,
        url: str,
        *,
        db_schema: str | None = None,
        sqlite_synchronous: str = "NORMAL",
        restart_every_s: float = RESTART_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Sent over the socket, not on the command line: the URL may hold a password.
        self._config = orjson.dumps({"url": url, "db_schema": db_schema, "sqlite_synchronous": sqlite_synchronous})
        self._restart_every_s = restart_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next_job = 1
        self._closing = False
        self._child = _Child(self._config)
        self._started_at = self._clock()
        self.starts = 1

    @property
    def pid(self) -> int:
        return self._child.process.pid

    def write(self, rows: Sequence[PredictionRow], *, urgent: bool = True) -> Future[None]:
        """Send rows for the child's next commit: `urgent` for an answer waiting on them."""
        done: Future[None] = Future()
        if not rows:
            done.set_result(None)
            return done
        done.set_running_or_notify_cancel()  # rows once sent cannot be withdrawn
        payload = encode_rows(rows)
        with self._lock:
            if self._closing:
                done.set_exception(PredictionLogError("the prediction log writer is closed"))
                return done
            if not self._child.alive:
                if self._clock() - self._started_at < self._restart_every_s:
                    done.set_exception(PredictionLogError("the prediction log process exited and is restarting"))
                    return done
                log.warning("the prediction log process exited; starting a new one")
                self._child = _Child(self._config)
                self._started_at = self._clock()
                self.starts += 1
            child, job = self._child, self._next_job
            self._next_job += 1
        child.send(job, done, urgent, payload)
        return done

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Let the child commit everything sent, then stop it."""
        with self._lock:
            self._closing = True
        self._child.close(timeout)


def serve(sock: socket.socket) -> None:
    """The child: open the log, then commit what arrives until the worker closes its end."""
    send_lock = threading.Lock()

    def reply(job: int, kind: int, payload: bytes = b"") -> None:
        with send_lock, contextlib.suppress(OSError):  # the worker is gone: what was committed stays
            sock.sendall(_frame(job, kind, payload))

    frames = _frames(sock)
    first = next(frames, None)
    if first is None or first[1] != CONFIGURE:
        return
    config = orjson.loads(first[2])
    try:
        prediction_log = PredictionLog(
            config["url"], db_schema=config["db_schema"], sqlite_synchronous=config["sqlite_synchronous"]
        )
    except PredictionLogError as err:
        reply(0, FAILED, str(err).encode())
        return
    writer = LogWriter(prediction_log, name="log-process-writer")

    def acknowledge(job: int, done: Future[None]) -> None:
        error = done.exception()
        if error is None:
            reply(job, DONE)
        else:
            reply(job, FAILED, f"{type(error).__name__}: {str(error).splitlines()[0]}".encode())

    try:
        for job, kind, payload in frames:
            try:
                rows = decode_rows(payload)
            except (ValueError, KeyError, TypeError) as err:
                reply(job, FAILED, f"unreadable rows: {err}".encode())
                continue
            writer.write(rows, urgent=kind == URGENT).add_done_callback(functools.partial(acknowledge, job))
    except OSError as err:  # the worker died mid-frame: commit what was received in full
        log.warning("prediction log process: the worker's socket failed: %s", err)
    finally:
        writer.close(timeout=CLOSE_TIMEOUT_S)
        prediction_log.close()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with socket.socket(fileno=int(sys.argv[1])) as sock:
        serve(sock)


if __name__ == "__main__":
    main()
