"""The audit wrapper fails on a vulnerability and never calls an audit of nothing a pass."""

from __future__ import annotations

from typing import Any

import pytest

from scripts import audit

CLEAN = {"name": "pydantic", "version": "2.14.3", "vulns": []}
VULNERABLE = {"name": "urllib3", "version": "1.0", "vulns": [{"id": "PYSEC-0000-1", "fix_versions": ["2.0"]}]}
SKIPPED = {"name": "orjson", "skip_reason": "Dependency not found on PyPI and could not be audited"}


def _services(monkeypatch: pytest.MonkeyPatch, **answers: list[dict[str, Any]] | None) -> list[str]:
    asked: list[str] = []

    def fake(service: str) -> list[dict[str, Any]] | None:
        asked.append(service)
        return answers[service]

    monkeypatch.setattr(audit, "audit", fake)
    return asked


def test_a_known_vulnerability_fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _services(monkeypatch, pypi=[CLEAN, VULNERABLE], osv=None)
    assert audit.main() == 1
    assert "VULNERABLE urllib3 1.0: PYSEC-0000-1" in capsys.readouterr().out


def test_osv_is_asked_when_pypi_audited_nothing(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    asked = _services(monkeypatch, pypi=[SKIPPED], osv=[CLEAN, VULNERABLE])
    assert audit.main() == 1
    assert asked == ["pypi", "osv"]
    assert "2 of 2 locked packages audited" in capsys.readouterr().out


def test_nothing_reachable_is_said_plainly_and_fails_only_when_required(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _services(monkeypatch, pypi=[SKIPPED], osv=None)
    assert audit.main() == 0
    out = capsys.readouterr().out
    assert "0 of 1 locked packages audited" in out and "UNAVAILABLE" in out
    monkeypatch.setattr("sys.argv", ["audit.py", "--require"])
    assert audit.main() == 1


def test_a_clean_complete_audit_passes_even_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    _services(monkeypatch, pypi=[CLEAN], osv=None)
    monkeypatch.setattr("sys.argv", ["audit.py", "--require"])
    assert audit.main() == 0
