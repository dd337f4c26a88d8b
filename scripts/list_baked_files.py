"""Print the default bake's file list, for tests/baked_files.txt (review the diff before committing).

.venv/bin/python scripts/list_baked_files.py > tests/baked_files.txt
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bake import bake

HEADER = "# The default bake's files (scripts/list_baked_files.py); tests/test_bake.py derives the other bakes'."


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        project = bake(Path(scratch), {})
        files = sorted(
            str(p.relative_to(project)) for p in project.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    print(HEADER)
    print("\n".join(files))


if __name__ == "__main__":
    main()
