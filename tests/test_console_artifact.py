"""The console is an operator tool: its code, templates, static files and web framework are not in the Lambda
artifact, and the function's entry points do not import any of it (the cold start does not move)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.aws_server import ROOT

MAX_ZIP_BYTES = 8 * 1024 * 1024
WEB = ("starlette", "uvicorn", "jinja2", "markupsafe", "multipart", "python_multipart", "playwright", "h11")


@pytest.mark.slow
def test_the_artifact_holds_none_of_the_console(packaged: Path) -> None:
    zip_path = packaged / "mediahook.zip"
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    assert not [n for n in names if n.startswith("lib/console/")]
    assert not [n for n in names if n.split("/", 1)[0].lower() in WEB]
    assert not [n for n in names if n.endswith((".html", "htmx.min.js"))]
    assert "lib/pipeline.pyc" in names or "lib/pipeline.py" in names  # the function's code is there
    assert zip_path.stat().st_size < MAX_ZIP_BYTES


def test_the_entry_points_import_nothing_of_the_console() -> None:
    probe = ("import json, sys, handler; "
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
             f"{WEB!r} or m.startswith('lib.console'))))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False, env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_the_console_package_data_is_declared_for_installs() -> None:
    """`make install` installs the project; the pages and static files must travel with lib.console."""
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "lib.console" in setuptools["packages"]
    patterns = setuptools["package-data"]["lib.console"]
    console = ROOT / "lib" / "console"
    shipped = {p.relative_to(console) for pattern in patterns for p in console.glob(pattern)}
    for folder in ("templates", "static"):
        assert {p.relative_to(console) for p in (console / folder).iterdir()} <= shipped
