"""Re-lock the baked project's dependencies and store the lock back in the template.

The lock is the same for every bake except the project's own name, which is put
back as a cookiecutter variable. Run after changing the baked pyproject.toml:

    make relock
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bake import TEMPLATE, bake

SLUG = "{{ cookiecutter.project_slug }}"
DEFAULT_SLUG = "fraud-detection"


def main() -> None:
    uv = Path(sys.executable).with_name("uv")
    with tempfile.TemporaryDirectory() as scratch:
        project = bake(Path(scratch), {})
        lock = project / "uv.lock"
        if not lock.read_text(encoding="utf-8").strip():  # first lock ever
            lock.unlink()
        subprocess.run([str(uv), "lock", "--python", sys.executable], cwd=project, check=True)
        text = (project / "uv.lock").read_text(encoding="utf-8")
    marker = f'name = "{DEFAULT_SLUG}"'
    if text.count(marker) != 1:
        sys.exit(f"expected exactly one {marker!r} in the lock, found {text.count(marker)}")
    target = TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock"
    target.write_text(text.replace(marker, f'name = "{SLUG}"'), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
