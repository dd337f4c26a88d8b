"""Loading tables, and the demo world: a seeded generator of card transactions.

The generator is also the production simulator: `TransactionGenerator.sample`
takes a `TrafficShift` that injects the incidents production ML meets (an
upstream column nobody announced, a covariate shift, a new fraud pattern), so
the demo, the tests and the benchmarks all draw from one realistic source.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.contract import Contract
from ..errors import DataError

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

# --- reading and preparing tables ---------------------------------------------------------------


# A CSV's header line longer than this is no table's (one line of megabytes, no line breaks):
# refused before pandas builds a column per value in it.
MAX_HEADER_BYTES = 1 << 20


def check_file(path: Path) -> str:
    """The file's kind (csv or parquet) when it is a readable, non-empty file whose CSV header
    line ends within `MAX_HEADER_BYTES`; else a one-line DataError naming it."""
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a CSV or Parquet file")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .csv or .parquet)")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    if kind == "csv":
        _check_csv_start(path)
    return kind


def _check_csv_start(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            start = handle.read(MAX_HEADER_BYTES + 1)
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror or err})") from None
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path}: not UTF-8 text (it is UTF-16): save it as UTF-8")
    if len(start) > MAX_HEADER_BYTES and b"\n" not in start:
        raise DataError(
            f"{path}: not a CSV table: its first line runs past {MAX_HEADER_BYTES >> 20} MiB without a line break"
        )


def csv_error(path: Path, err: Exception) -> DataError:
    """What a CSV that pandas could not read is told, in one line."""
    if isinstance(err, UnicodeDecodeError):
        return DataError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} is not UTF-8): save it as UTF-8")
    return DataError(f"{path}: not a readable CSV file ({(str(err).splitlines() or [type(err).__name__])[0]})")


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; every failure is a one-line DataError."""
    kind = check_file(path)
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file has no columns") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise csv_error(path, err) from None
    except (OSError, ValueError) as err:  # pyarrow raises ArrowInvalid, a ValueError
        raise DataError(f"{path}: not a readable {kind} file ({str(err).splitlines()[0]})") from None
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no rows")
    return frame


def partition_files(path: Path) -> list[Path]:
    """The Parquet partitions of a folder (searched recursively, in path order), or the one
    file a path names; a folder without any is a DataError."""
    if path.is_file():
        if READERS.get(path.suffix.lower()) != "parquet":
            raise DataError(f"{path}: the Dask engine reads Parquet (a .parquet file or a folder of them)")
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: no such folder of Parquet partitions")
    files = sorted(p for p in path.rglob("*") if p.is_file() and READERS.get(p.suffix.lower()) == "parquet")
    if not files:
        raise DataError(f"{path}: the folder holds no .parquet files")
    return files


def _as_boolean(column: pd.Series) -> pd.Series:
    """Booleans written as true/false, 0/1 or yes/no become pandas booleans; anything else
    is left alone so that validation reports it with its values."""
    mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "1.0": True, "0.0": False}
    if pd.api.types.is_bool_dtype(column):
        return column.astype("boolean")
    text = column.map(lambda v: v if pd.isna(v) else str(v).strip().lower())
    if not text.dropna().isin(list(mapping)).all():
        return column
    return text.map(lambda v: pd.NA if pd.isna(v) else mapping[v]).astype("boolean")


def _as_category_text(column: pd.Series, normalize: bool) -> pd.Series:
    """Text categories as Python strings (None for missing), normalised once per distinct
    value rather than once per row: a million rows hold only thousands of levels."""
    codes, levels = pd.factorize(column, use_na_sentinel=True)
    cleaned = np.array(
        [" ".join(str(v).split()).lower() if normalize else str(v) for v in levels] + [None], dtype=object
    )
    return pd.Series(cleaned[codes], index=column.index, dtype=object)  # code -1 picks the trailing None


def _as_timestamp(column: pd.Series) -> pd.Series:
    try:
        parsed = pd.to_datetime(column, utc=True, format="mixed")
    except (ValueError, TypeError):
        return column  # validation reports the column's type with sample values
    return parsed.dt.tz_convert(None)


def prepare_frame(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Bring a raw table into the form the contract describes, without hiding errors:
    categoricals become normalised text, booleans and timestamps are parsed where
    they can be, and everything else is left for validation to judge."""
    if contract.target not in frame.columns:
        raise DataError(f"target column {contract.target!r} is missing (columns: {', '.join(map(str, frame.columns))})")
    out = frame.copy()
    if contract.timestamp_column is not None and contract.timestamp_column in out.columns:
        out[contract.timestamp_column] = _as_timestamp(out[contract.timestamp_column])
    if contract.id_column is not None and contract.id_column in out.columns:
        out[contract.id_column] = out[contract.id_column].map(lambda v: v if pd.isna(v) else str(v)).astype(object)
    for feature in contract.features:
        if feature.name not in out.columns:
            continue
        if feature.type == "categorical":
            out[feature.name] = _as_category_text(out[feature.name], feature.normalize)
        elif feature.type == "boolean":
            out[feature.name] = _as_boolean(out[feature.name])
    if contract.is_classification and contract.labels is not None:
        out[contract.target] = _as_class_labels(out[contract.target], contract)
    elif contract.is_classification and pd.api.types.is_bool_dtype(out[contract.target]):
        out[contract.target] = out[contract.target].astype(int)
    return out


def _as_class_labels(column: pd.Series, contract: Contract) -> pd.Series:
    """A class target in the contract's labels, each written one way (" M" as "M", "TRUE" as
    True, 1.0 as 1), once per distinct value; anything else is left for validation to report."""
    codes, levels = pd.factorize(column, use_na_sentinel=True)
    named = [contract.label_code(value) for value in levels]
    labels = contract.class_labels
    written = [labels[code] if code is not None else value for code, value in zip(named, levels, strict=True)]
    values = np.array([*written, None], dtype=object)
    named_column = pd.Series(values[codes], index=column.index, dtype=object)  # code -1 picks the None
    # Text stays Python strings in an object column, as categoricals do; numbers and booleans get their dtype.
    return named_column if any(isinstance(label, str) for label in labels) else named_column.infer_objects()


def target_codes(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The table with a class target as the model learns it: each class's index in the
    contract's labels, for a binary target 0 the negative class and 1 the positive
    (`Contract.label_code`). A table whose contract names no labels (its target
    is 0/1 already) or is a regression comes back as it is. Run on validated data: a value
    that is neither class stops here with its count."""
    if not contract.is_classification or contract.labels is None:
        return frame
    codes, levels = pd.factorize(frame[contract.target], use_na_sentinel=True)
    named = [contract.label_code(value) for value in levels]
    if -1 in codes or None in named:
        stray = int((codes == -1).sum()) + sum(int((codes == i).sum()) for i, code in enumerate(named) if code is None)
        labels = contract.class_labels
        which = (
            f"neither {labels[0]!r} nor {labels[1]!r}"
            if len(labels) == 2
            else f"none of {', '.join(map(repr, labels))}"
        )
        raise DataError(f"{stray} row(s) of target {contract.target!r} are {which}: validate the data")
    return frame.assign(**{contract.target: np.array(named, dtype=np.int64)[codes]})


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a table (values and column names), for the environment manifest."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class TableFacts:
    """What a model version records of its training table when the table is not in memory
    (on Dask: the rows and the partitions' combined hash)."""

    rows: int
    fingerprint: str

    @classmethod
    def of(cls, frame: pd.DataFrame | TableFacts) -> TableFacts:
        return frame if isinstance(frame, TableFacts) else cls(rows=len(frame), fingerprint=fingerprint(frame))


# --- the demo world ------------------------------------------------------------------------------


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .csv or .parquet)")
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path
