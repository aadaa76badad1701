"""The reviewed skip list of ``make scan`` (scan/skips.yaml, read by scripts/scan.py): every skip gives its
reason, a skip covers only what it names (check, resources, file and flagged line), and a skip that covers
nothing is reported as stale. The scanners themselves run in tests/test_make_scan.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import scan


def test_every_skip_in_the_list_names_its_check_and_says_why() -> None:
    skips = scan.load_skips(scan.SKIPS)
    assert skips["checkov"] and skips["bandit"]
    for entry in skips["checkov"] + skips["bandit"]:
        assert len(str(entry["reason"]).split()) >= 8, entry  # a reason, not a label


def test_a_skip_covers_only_the_resources_and_the_line_it_names() -> None:
    skips = {"checkov": [{"id": "CKV_AWS_116", "resources": ["CallbackLambdaFunction"], "reason": "r"},
                         {"id": "CKV_AWS_117", "reason": "r"}],
             "bandit": [{"id": "B310", "file": "lib/cmq.py", "line_contains": "urlopen(request", "reason": "r"}]}
    findings = [
        scan.Finding("checkov", "CKV_AWS_116", "CallbackLambdaFunction", "DLQ"),
        scan.Finding("checkov", "CKV_AWS_116", "PullLambdaFunction", "DLQ"),       # another resource
        scan.Finding("checkov", "CKV_AWS_117", "PullLambdaFunction", "VPC"),        # every resource
        scan.Finding("bandit", "B310", "lib/cmq.py:95", "urlopen", "    with urlopen(request, timeout=1) as r:"),
        scan.Finding("bandit", "B310", "lib/cmq.py:120", "urlopen", "    urlopen(other_url)"),  # a new call
        scan.Finding("bandit", "B310", "lib/api.py:3", "urlopen", "    urlopen(request, timeout=1)"),  # another file
    ]
    left, stale = scan.unlisted(findings, skips)
    assert [str(f) for f in left] == ["checkov CKV_AWS_116 PullLambdaFunction: DLQ",
                                      "bandit B310 lib/cmq.py:120: urlopen", "bandit B310 lib/api.py:3: urlopen"]
    assert stale == []


def test_a_skip_that_covers_nothing_is_reported_stale() -> None:
    skips = {"checkov": [{"id": "CKV_AWS_18", "resources": ["ArchiveBucket"], "reason": "r"}],
             "bandit": [{"id": "B311", "file": "lib/cmq.py", "reason": "r"}]}
    left, stale = scan.unlisted([scan.Finding("bandit", "B311", "lib/cmq.py:82", "random", "random.randint(1, 2)")],
                                skips)
    assert left == []
    assert stale == ["checkov CKV_AWS_18 ArchiveBucket"]


@pytest.mark.parametrize(("text", "problem"), [
    ("checkov:\n  - id: CKV_AWS_117\n", "a checkov skip without an id or a reason"),
    ("bandit:\n  - id: B310\n    reason: the scheme is checked first\n", "the bandit skip B310 names no file"),
])
def test_a_skip_without_its_reason_or_file_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "skips.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(scan.SetupError, match=problem):
        scan.load_skips(path)
