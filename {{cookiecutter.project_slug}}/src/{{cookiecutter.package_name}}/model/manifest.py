"""The environment manifest recorded with each model version.

It answers "what exactly produced this model?" (Python, package versions, the
lock file's hash, the git commit, the data fingerprint, the seed, the ONNX
opset) and lets a service refuse a model its runtime cannot run.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "lightgbm",
    "onnx",
    "onnxmltools",
    "onnxruntime",
    "numpy",
    "pandas",
    "scikit-learn",
    "great-expectations",
    "mlflow",
    "prefect",
    "bentoml",
    "pydantic",
)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def lock_hash(project_root: Path) -> str | None:
    lock = project_root / "uv.lock"
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None


def git_commit(project_root: Path) -> str | None:
    """The commit the project is at, with `-dirty` when files differ; None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=project_root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def build_manifest(*, project_root: Path, seed: int, data_fingerprint: str, onnx_opset: int) -> dict[str, Any]:
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "lock_sha256": lock_hash(project_root),
        "git_commit": git_commit(project_root),
        "data_fingerprint": data_fingerprint,
        "seed": seed,
        "onnx_opset": onnx_opset,
    }
