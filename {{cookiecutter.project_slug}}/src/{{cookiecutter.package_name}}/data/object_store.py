"""Training data in an S3 bucket (AWS, or an S3-compatible store: MinIO, Ceph, moto).

`data_path` (or `train --data`) may be `s3://bucket/prefix/`: the Parquet files under the
prefix (searched recursively, in key order) are the table, one partition each on the Dask
engine, read one after another and concatenated on the local engine. pyarrow's own S3
client reads them (it ships in the pyarrow wheel: no s3fs, no new dependency).

Credentials never pass through the project's settings, its logs or a Dask task: the AWS
SDK inside pyarrow finds them in its standard chain (`AWS_ACCESS_KEY_ID` /
`AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, a profile, an IAM role) in the process that
reads, on the Dask engine each worker's own environment. The endpoint of an S3-compatible
store is the AWS SDKs' `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, else
`MLFLOW_S3_ENDPOINT_URL`, which the project already sets for MLflow's artifacts; the region
`AWS_REGION` or `AWS_DEFAULT_REGION`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pandas as pd

from ..errors import DataError
from .tables import READERS, partition_files, read_table

if TYPE_CHECKING:
    from pyarrow.fs import S3FileSystem

S3 = "s3://"
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
# Bounded waits: an unreachable store is an error within about a minute, never a hang.
CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 60.0


def is_s3(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(S3)


def data_location(location: str | Path) -> str | Path:
    """An `s3://` URL as it is, anything else as a local path (a Path would fold `s3://` into `s3:/`)."""
    return location if is_s3(location) else Path(location)


def s3_filesystem() -> S3FileSystem:
    """pyarrow's S3 client for this process's environment (see the module's docstring)."""
    from pyarrow.fs import S3FileSystem

    options: dict[str, str] = {}
    endpoint = next((os.environ[name] for name in ENDPOINT_VARIABLES if os.environ.get(name)), None)
    if endpoint:
        parsed = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options.update(endpoint_override=parsed.netloc, scheme=parsed.scheme)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    return S3FileSystem(connect_timeout=CONNECT_TIMEOUT_S, request_timeout=REQUEST_TIMEOUT_S, **options)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _is_parquet(key: str) -> bool:
    return READERS.get(Path(key).suffix.lower()) == "parquet"


def s3_parquet_files(url: str) -> list[str]:
    """The `s3://` URLs of the Parquet files under `url` (a prefix, searched recursively, in
    key order; or one file); a missing bucket, or a prefix without any, is a one-line DataError."""
    from pyarrow.fs import FileSelector, FileType

    root = url[len(S3) :].strip("/")
    bucket = root.split("/", 1)[0]
    if not bucket:
        raise DataError(f"{url}: names no bucket (write s3://bucket/prefix/)")
    store = s3_filesystem()
    try:
        if store.get_file_info(bucket).type == FileType.NotFound:
            raise DataError(f"{url}: no such bucket {bucket!r} (or no permission to see it)")
        if store.get_file_info(root).type == FileType.File:
            found = [root]
        else:
            selector = FileSelector(root, recursive=True, allow_not_found=True)
            found = [info.path for info in store.get_file_info(selector) if info.type == FileType.File]
    except OSError as err:
        raise DataError(f"{url}: cannot list it ({_first_line(err)})") from None
    files = sorted(key for key in found if _is_parquet(key))
    if not files:
        raise DataError(f"{url}: no .parquet files under it")
    return [f"{S3}{key}" for key in files]


def read_s3_table(url: str) -> pd.DataFrame:
    """One Parquet file on S3; every failure is a one-line DataError naming it."""
    try:
        frame = pd.read_parquet(url[len(S3) :], filesystem=s3_filesystem())
    except FileNotFoundError:
        raise DataError(f"{url}: no such file") from None
    except (OSError, ValueError) as err:  # pyarrow raises ArrowInvalid, a ValueError
        raise DataError(f"{url}: not a readable parquet file ({_first_line(err)})") from None
    if frame.empty:
        raise DataError(f"{url}: the file has a header but no rows")
    return frame


def partition_locations(location: str | Path) -> list[str]:
    """The Parquet partitions of a local folder or file, or under an `s3://` prefix, as
    locations a Dask worker reads (`read_location`)."""
    if is_s3(location):
        return s3_parquet_files(str(location))
    return [str(path) for path in partition_files(Path(location))]


def read_location(location: str) -> pd.DataFrame:
    """One file, local or on S3."""
    return read_s3_table(location) if is_s3(location) else read_table(Path(location))


def read_training_table(location: str | Path) -> pd.DataFrame:
    """The local engine's table: a CSV or Parquet file, or every Parquet file under an
    `s3://` prefix, read one after another and concatenated in key order."""
    if not is_s3(location):
        return read_table(Path(location))
    return pd.concat([read_s3_table(url) for url in s3_parquet_files(str(location))], ignore_index=True)
