"""Tables in bounded chunks: read a CSV or Parquet file a slice at a time and write a table as it
comes, so that the memory a pass over a file needs does not grow with the file.

Parquet is read by record batches of its row groups; CSV by pandas' chunked reader, with the
columns named as text read as text in every chunk (pandas infers a type per chunk: an id column
of numbers, or a column empty in one chunk, would otherwise change type from chunk to chunk).
The writer fixes its schema on the first chunk and holds every later one to it. Every failure
is a one-line DataError, as `tables.read_table` gives.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from .tables import READERS, check_file, csv_error


@dataclass(frozen=True)
class Chunk:
    frame: pd.DataFrame
    first_row: int  # the chunk's first row's place in the file, from 0
    done: float | None  # the share of the file read so far (None when it cannot be told)


def table_kind(path: Path) -> str:
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .csv or .parquet)")
    return kind


def check_readable(path: Path) -> str:
    """The file's kind (csv or parquet) when it is readable (`tables.check_file`), else a one-line DataError."""
    return check_file(path)


def _one_line(err: BaseException) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    try:
        source = pq.ParquetFile(path)
    except (OSError, ValueError) as err:  # pyarrow raises ArrowInvalid, a ValueError
        raise DataError(f"{path}: not a readable parquet file ({_one_line(err)})") from None
    total = source.metadata.num_rows
    first = 0
    with source:
        batches = source.iter_batches(batch_size=chunk_rows)
        while True:
            try:
                batch = next(batches, None)
            except (OSError, ValueError) as err:
                raise DataError(f"{path}: not a readable parquet file ({_one_line(err)})") from None
            if batch is None:
                return
            if batch.num_rows == 0:
                continue
            # The same conversion pd.read_parquet applies to the whole table.
            frame = batch.to_pandas()
            yield Chunk(frame, first, (first + len(frame)) / total if total else None)
            first += len(frame)


def _csv_chunks(path: Path, chunk_rows: int, text_columns: Sequence[str]) -> Iterator[Chunk]:
    size = path.stat().st_size
    with path.open("rb") as handle:
        try:
            header = pd.read_csv(handle, nrows=0).columns
            handle.seek(0)
            reader = pd.read_csv(handle, chunksize=chunk_rows, dtype={c: "str" for c in text_columns if c in header})
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the file has no columns") from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
            raise csv_error(path, err) from None
        first = 0
        with reader:
            while True:
                try:
                    frame = next(reader, None)
                except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
                    raise csv_error(path, err) from None
                if frame is None:
                    return
                # The reader reads ahead in blocks: where the handle stands is close enough for progress.
                yield Chunk(frame.reset_index(drop=True), first, min(_position(handle) / size, 1.0))
                first += len(frame)


def _position(handle: IO[bytes]) -> int:
    with contextlib.suppress(OSError, ValueError):
        return handle.tell()
    return 0


def read_chunks(path: Path, chunk_rows: int, text_columns: Sequence[str] = ()) -> Iterator[Chunk]:
    """The file's rows, `chunk_rows` at a time (a Parquet chunk may be shorter: batches end at row
    groups). `text_columns` are read as text from a CSV in every chunk. A file of no rows, or
    one that cannot be read, stops with a one-line DataError naming it."""
    kind = check_readable(path)
    chunks = _parquet_chunks(path, chunk_rows) if kind == "parquet" else _csv_chunks(path, chunk_rows, text_columns)
    rows = 0
    for chunk in chunks:
        rows += len(chunk.frame)
        yield chunk
    if rows == 0:
        raise DataError(f"{path}: the file has a header but no rows")


def _first_schema(frame: pd.DataFrame) -> pa.Schema:
    """The table's schema, from its first chunk. A column with no values in it has no type of its
    own (Arrow's null): it is taken as text, what such a column of a CSV (an id, a timestamp read
    as written) holds in the chunks after."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    for index, column in enumerate(schema):
        if pa.types.is_null(column.type):
            schema = schema.set(index, column.with_type(pa.string()))
    return schema


class ChunkWriter:
    """Writes a table chunk by chunk into CSV or Parquet, every chunk in the first one's schema.

    The table goes to a `.partial` file beside the destination and takes its name only when
    complete (`close` after every chunk): a failure half-way leaves no truncated table under the
    expected name. CSV is written by pandas, as `tables.write_table` writes a whole frame.
    """

    def __init__(self, path: Path) -> None:
        self.kind = table_kind(path)
        self.path = path
        self.partial = path.with_name(f"{path.name}.partial")
        self.rows = 0
        self._schema: pa.Schema | None = None
        self._parquet: pq.ParquetWriter | None = None
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == "csv":
            frame.to_csv(self.partial, index=False, mode="a" if self.rows else "w", header=not self.rows)
        else:
            if self._schema is None:
                self._schema = _first_schema(frame)
                self._parquet = pq.ParquetWriter(self.partial, self._schema)
            assert self._parquet is not None
            try:
                table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
                raise DataError(f"{self.path}: a chunk does not fit the table's columns ({_one_line(err)})") from None
            self._parquet.write_table(table)
        self.rows += len(frame)

    def close(self) -> Path:
        """Finish the table and give it its name."""
        if self._parquet is not None:
            self._parquet.close()
        self.partial.replace(self.path)
        return self.path

    def discard(self) -> None:
        if self._parquet is not None:
            with contextlib.suppress(OSError, ValueError):
                self._parquet.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is not None:
            self.discard()
