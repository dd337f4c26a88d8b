"""Batch scoring: score a CSV/Parquet file with the champion and write the scores.

The logic is `batch_scoring.score_file`; this flow adds the run record and a
summary artifact. Run it through its deployment:
    prefect deployment run batch-scoring/batch-scoring -p input_path=/data/today.parquet
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from {{ cookiecutter.package_name }}.core import transient
from {{ cookiecutter.package_name }}.core.contract import load_contract
from {{ cookiecutter.package_name }}.serving.batch_scoring import score_file
from {{ cookiecutter.package_name }}.settings import get_settings

# Reads a file and writes its scores whole: a retry after a lost connection (the registry, a
# remote store) writes the same file again.
score = task(name="score-file", cache_policy=NO_CACHE, **transient.TASK_RETRY)(score_file)


@flow(name="batch-scoring")
def batch_scoring(input_path: str, output_path: str | None = None, alias: str = "champion") -> dict[str, Any]:
    """Score `input_path` with the model behind `alias`; write `output_path` (default: next to
    the input, `<name>.scores.parquet`)."""
    settings = get_settings()
    contract = load_contract(settings.contract_file)
    source = Path(input_path)
    if not source.is_absolute():
        source = settings.project_root / source
    result = score(settings, contract, source, Path(output_path) if output_path else None, alias)
    get_run_logger().info("%d rows scored with v%s into %s", result.rows, result.model_version, result.output_path)
    create_markdown_artifact(
        key="batch-scoring",
        markdown=(
            f"Scored **{result.rows}** rows of `{result.input_path}` with {alias} v{result.model_version}: "
            f"mean score {result.mean_score:.4f}"
            + (f", {result.flagged} flagged" if result.flagged is not None else "")
            + f". Written to `{result.output_path}`."
        ),
    )
    return asdict(result)


if __name__ == "__main__":
    import sys

    batch_scoring(sys.argv[1])
