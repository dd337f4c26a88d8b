"""The HTML pages' shared Jinja set-up: values are escaped, and a field the data lacks fails
the render instead of leaving a blank."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from {{ cookiecutter.package_name }}.core.html_page import page_template

OPEN, CLOSE = "{" * 2, "}" * 2  # Jinja's delimiters, spelled so the baked file holds none


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "page.html.j2").write_text(f"<p>{OPEN} name {CLOSE}</p>\n", encoding="utf-8")
    return tmp_path


def test_a_value_from_the_data_is_escaped(folder: Path) -> None:
    """Given a feature named like markup, when the page renders it, then it is text."""
    html = page_template(folder, "page.html.j2").render(name="<script>x</script>")

    assert html == "<p>&lt;script&gt;x&lt;/script&gt;</p>"


def test_a_missing_field_fails_the_render(folder: Path) -> None:
    """Given data without a field the page names, when it renders, then it fails loudly."""
    with pytest.raises(jinja2.UndefinedError, match="name"):
        page_template(folder, "page.html.j2").render()


def test_the_template_is_loaded_once(folder: Path) -> None:
    """Given the same folder and name twice, when asked, then the one compiled template is reused."""
    assert page_template(folder, "page.html.j2") is page_template(folder, "page.html.j2")
