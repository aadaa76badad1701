"""``make docs`` itself (the Makefile target people and CI run, not only ``mkdocs``) fails on every kind of
warning: a broken link, a link to a missing anchor, a page left out of the nav. It once passed with all three
(``--quiet`` hid the warnings from ``--strict``'s count). Each case builds a copy of the site in tmp_path
(``MKDOCS_CONFIG``, ``SITE_DIR``), so parallel workers share nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.aws_server import ROOT


def _site_copy(tmp_path: Path) -> Path:
    """A copy of mkdocs.yml, docs/ and the site's hook (scripts/docs_assets.py, which reads node_modules/) in
    tmp_path; returns the copy's config file."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "docs_assets.py", tmp_path / "scripts" / "docs_assets.py")
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    return tmp_path / "mkdocs.yml"


def _make_docs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "docs", f"MKDOCS_CONFIG={config}",
                           f"SITE_DIR={site}"], capture_output=True, text=True, timeout=240, check=False)


def test_make_docs_passes_on_the_clean_tree(tmp_path: Path) -> None:
    result = _make_docs(_site_copy(tmp_path), tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


PLANTED = {
    "a broken link": ("[gone](no-such-page.md)",
                      "contains a link 'no-such-page.md', but the target is not found"),
    "a missing anchor": ("[bad anchor](index.md#no-such-heading)",
                         "does not contain an anchor '#no-such-heading'"),
    "a page outside the nav": (None, "not included in the \"nav\" configuration:\n  - orphan.md"),
}


@pytest.mark.parametrize("problem", list(PLANTED))
def test_make_docs_fails_on_a_planted_warning(tmp_path: Path, problem: str) -> None:
    config = _site_copy(tmp_path)
    link, warning = PLANTED[problem]
    if link is None:
        (tmp_path / "docs" / "orphan.md").write_text("# A page no nav entry points to\n", encoding="utf-8")
    else:
        with (tmp_path / "docs" / "security.md").open("a", encoding="utf-8") as page:
            page.write(f"\nSee {link}.\n")
    result = _make_docs(config, tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"make docs passed with {problem}:\n{output}"
    assert warning in output, output
    assert "Aborted with 1 warnings in strict mode" in output, output
    assert "INFO " not in output, "make docs prints the warnings, not mkdocs' progress lines"
