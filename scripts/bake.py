"""Bake the template (default answers unless overridden) into a folder.

python scripts/bake.py --output-dir build/dev [--set problem_type=regression] [--fresh]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]


def bake(output_dir: Path, answers: dict[str, str], fresh: bool = False) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        for child in output_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
    project = cookiecutter(
        str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir), overwrite_if_exists=True
    )
    return Path(project)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an answer to override")
    parser.add_argument("--fresh", action="store_true", help="remove earlier bakes in the folder first")
    args = parser.parse_args()
    answers = dict(item.split("=", 1) for item in args.set)
    print(bake(args.output_dir, answers, fresh=args.fresh))


if __name__ == "__main__":
    main()
