"""Tables read and written in bounded chunks: every row once, in order, and one schema throughout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }}.data.table_chunks import ChunkWriter, read_chunks
from {{ cookiecutter.package_name }}.errors import DataError


def values(column: pd.Series) -> list[object]:
    """A column's values with every kind of missing as None, to compare across dtypes."""
    return [None if pd.isna(v) else v for v in column]


def table(rows: int) -> pd.DataFrame:
    """Numbers, and a text column that is empty for the first rows and numbers-as-text later:
    read by itself, each chunk would guess that column's type differently."""
    text = [None] * (rows // 2) + [str(i) for i in range(rows - rows // 2)]
    return pd.DataFrame({"amount": np.arange(rows) * 1.5, "code": pd.Series(text, dtype=object)})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunks_cover_the_file_in_order(tmp_path: Path, suffix: str) -> None:
    """Every row comes once, in order, in chunks of at most the size asked, each knowing its first
    row's place in the file; the share read reaches the whole file."""
    # Given a file of 25 rows
    path = tmp_path / f"t{suffix}"
    frame = table(25)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False, row_group_size=10)

    # When read 7 rows at a time
    chunks = list(read_chunks(path, 7, text_columns=["code"]))

    # Then the chunks put the file back together
    assert all(len(c.frame) <= 7 for c in chunks)
    assert len(chunks) >= 4
    assert [c.first_row for c in chunks] == list(np.cumsum([0] + [len(c.frame) for c in chunks[:-1]]))
    together = pd.concat([c.frame for c in chunks], ignore_index=True)
    assert together["amount"].tolist() == frame["amount"].tolist()
    assert values(together["code"]) == values(frame["code"])
    assert chunks[-1].done == pytest.approx(1.0)


def test_a_csv_text_column_keeps_its_type_in_every_chunk(tmp_path: Path) -> None:
    """A column named as text is text in a chunk where it is empty and in one of digits alike."""
    # Given a CSV whose code column is empty, then digits
    path = tmp_path / "t.csv"
    table(20).to_csv(path, index=False)

    # When read in chunks of 5
    dtypes = {str(c.frame["code"].dtype) for c in read_chunks(path, 5, text_columns=["code"])}

    # Then every chunk has the one text type
    assert len(dtypes) == 1
    assert not pd.api.types.is_numeric_dtype(next(iter(read_chunks(path, 5, ["code"]))).frame["code"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_writer_writes_chunk_by_chunk_into_one_schema(tmp_path: Path, suffix: str) -> None:
    """Chunks written one after another read back as the whole table, with a text column that is
    empty in the first chunk still text; nothing has the name until the table is complete."""
    # Given a table cut in three
    frame = table(30)
    path = tmp_path / f"out{suffix}"

    # When written chunk by chunk
    with ChunkWriter(path) as writer:
        for start in range(0, 30, 10):
            writer.write(frame.iloc[start : start + 10].reset_index(drop=True))
            assert not path.exists()
        writer.close()

    # Then it reads back whole, in one schema
    back = pd.read_csv(path, dtype={"code": "str"}) if suffix == ".csv" else pd.read_parquet(path)
    assert writer.rows == 30
    assert len(back) == 30
    assert back["amount"].tolist() == frame["amount"].tolist()
    assert values(back["code"]) == values(frame["code"])
    if suffix == ".parquet":
        assert pq.ParquetFile(path).metadata.num_row_groups == 3
        assert str(pq.read_schema(path).field("code").type) in ("string", "large_string")


def test_a_failed_write_leaves_no_table_behind(tmp_path: Path) -> None:
    """A failure half-way removes the partial file and never gives the destination a name."""
    path = tmp_path / "out.parquet"

    def fail_half_way() -> None:
        with ChunkWriter(path) as writer:
            writer.write(table(4))
            raise RuntimeError("the scoring failed")

    with pytest.raises(RuntimeError):
        fail_half_way()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("empty.csv", b"", "the file is empty"),
        ("header.csv", b"amount,code\n", "a header but no rows"),
        ("broken.parquet", b"not parquet at all", "not a readable parquet file"),
        ("table.xlsx", b"x", "unsupported file type '.xlsx'"),
    ],
)
def test_bad_files_are_one_line_errors_naming_them(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    """A file that is missing, empty, of no rows, unreadable or of another type: one line naming it."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as raised:
        list(read_chunks(path, 10))
    assert str(path) in str(raised.value)
    assert "\n" not in str(raised.value)
