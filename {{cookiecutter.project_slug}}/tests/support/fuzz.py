"""Generated hostile input against the running service: schemathesis reads the OpenAPI
document the service serves (/docs.json) and sends every operation cases made from it, both
valid ones and ones that break the schema on purpose, derandomized (the same cases on every
run). Each answer is checked: no 5xx, its status code, content type, headers and body as the
document promises, no traceback in the body, and a protected operation refuses a request
without the key.

The test (tests/integration/test_service_fuzz.py) runs it against a server on the session's
trained model; the template's benchmark (benchmarks/reliability/fuzz.py) runs it for many more
cases through `main` below, which trains a model of its own:

    python -m tests.support.fuzz --work DIR --max-examples 3000 --out report.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Every check that judges one answer against the document, plus this project's own.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "ignored_auth",
    "no_traceback_in_body",
)
HOOKS = Path(__file__).with_name("fuzz_checks.py")
# Two keys, as during a rotation; the cases are sent with the newer one.
KEYS = ("fuzz-key-old-0d1e", "fuzz-key-new-7a2c")


@dataclass(frozen=True)
class FuzzReport:
    """What one schemathesis run found (from its JSON report)."""

    cases: int
    operations_tested: int
    operations_total: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    output: str = ""

    def summary(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "output"}


def fuzz(url: str, work: Path, *, max_examples: int, api_key: str | None = None, workers: int = 1) -> FuzzReport:
    """Run `schemathesis run` against the service at `url`, `max_examples` cases per operation
    and generation mode in its fuzzing phase (plus its coverage phase's boundary cases)."""
    work.mkdir(parents=True, exist_ok=True)
    report_path = work / "schemathesis.json"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/docs.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(max_examples),
        "--generation-deterministic",  # hypothesis derandomized: the same cases every run
        "--continue-on-failure",
        "--workers",
        str(workers),
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
    ]
    if api_key is not None:
        command += ["--header", f"X-API-Key: {api_key}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
    seconds = round(time.perf_counter() - start, 1)
    if not report_path.is_file():
        raise AssertionError(f"schemathesis wrote no report ({result.returncode}):\n{result.stdout}{result.stderr}")
    found = json.loads(report_path.read_text(encoding="utf-8"))
    return FuzzReport(
        cases=found["test_cases"]["generated"],
        operations_tested=found["operations"]["tested"],
        operations_total=found["operations"]["total"],
        failures=found["failures"],
        errors=found["errors"],
        seconds=seconds,
        output=result.stdout[-20_000:] + result.stderr[-5_000:],
    )


def main() -> None:
    """Train a model in a fresh registry, serve it with two API keys, fuzz it, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="registry, server log and reports go here")
    parser.add_argument("--max-examples", type=int, default=3000, help="cases per operation and mode (fuzzing)")
    parser.add_argument("--workers", type=int, default=1, help="schemathesis's concurrent clients")
    parser.add_argument("--out", type=Path, required=True, help="the report as JSON")
    args = parser.parse_args()

    from {{ cookiecutter.package_name }}.core.contract import load_contract
    from {{ cookiecutter.package_name }}.data.demo_world import demo_frame
    from {{ cookiecutter.package_name }}.data.tables import prepare_frame
    from tests.support.project import PROJECT_ROOT, TEST_ROWS, make_settings, train_version
    from tests.support.service import running_server, service_env

    contract = load_contract(PROJECT_ROOT / "contract.yaml")
    settings = make_settings(args.work / "state")
    if not (settings.var_dir / "mlflow.db").exists():
        train_version(settings, prepare_frame(demo_frame(contract, TEST_ROWS, 60), contract), contract, "fuzz")
    env = service_env(settings, workers=1, api_keys=json.dumps(KEYS))
    log_path = args.work / "server.log"
    with running_server(env, log_path) as server:
        report = fuzz(server.url, args.work / "schemathesis", max_examples=args.max_examples, api_key=KEYS[1])
    leaked = [key for key in KEYS if key in log_path.read_text(errors="replace")]
    args.out.write_text(json.dumps({**report.summary(), "keys_in_server_log": len(leaked)}, indent=2) + "\n")
    sys.stdout.write(report.output)


if __name__ == "__main__":
    main()
