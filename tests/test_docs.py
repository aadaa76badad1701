"""The documentation: the site builds strictly and offline, the README's links resolve, the generated CLI
reference is current, and every alarm the stack creates has its runbook section (and names it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import check_links, cli_reference
from tests.aws_server import ROOT

RUNBOOK = "docs/operations/runbook.md"
RUNBOOK_PARTS = ("**Watches**", "**Means**", "**Look first**", "**Do**")
FRONT_PAGE_MAX_LINES = 150


class _CloudFormationLoader(yaml.SafeLoader):
    """serverless.yml with its CloudFormation short forms (!Ref, !GetAtt, !Sub, !If...) read as {tag: value}."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"!{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _tagged)


def _resources() -> dict[str, dict[str, Any]]:
    template = yaml.load((ROOT / "serverless.yml").read_text(encoding="utf-8"), Loader=_CloudFormationLoader)  # noqa: S506
    resources: dict[str, dict[str, Any]] = template["resources"]["Resources"]
    return resources


def _alarms() -> dict[str, dict[str, Any]]:
    return {name: resource["Properties"] for name, resource in _resources().items()
            if resource.get("Type") == "AWS::CloudWatch::Alarm"}


def _runbook_sections() -> dict[str, str]:
    """The runbook's ``## `` sections: title -> body."""
    text = (ROOT / RUNBOOK).read_text(encoding="utf-8")
    parts = re.split(r"^## +(.+?)\s*$", text, flags=re.MULTILINE)
    return {title: body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


# --------------------------------------------------------------------------- the site


def test_the_site_builds_strictly_without_the_network(tmp_path: Path) -> None:
    """``mkdocs build --strict``: a broken link or anchor, a page missing from the nav, any warning fails.
    Its plugins (search, offline) and the Mermaid fence fetch nothing while building."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    runbook = (tmp_path / "site" / "operations" / "runbook.html").read_text(encoding="utf-8")
    for alarm in _alarms():
        assert f'id="{alarm.lower()}"' in runbook, f"the built runbook has no #{alarm.lower()}"
    assert '<pre class="mermaid">' in (tmp_path / "site" / "reliability.html").read_text(encoding="utf-8")


def test_the_readme_links_resolve() -> None:
    assert check_links.broken_links(ROOT / "README.md") == []


def test_the_link_check_finds_a_missing_page_and_a_missing_anchor(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_links, "ROOT", tmp_path)
    page = tmp_path / "README.md"
    (tmp_path / "guide.md").write_text("# Guide\n\n## Deploying onto moto server first\n\ntext\n")
    page.write_text("[ok](guide.md#deploying-onto-moto-server-first) [gone](nowhere.md) [bad](guide.md#no-such)"
                    " [self](#top) `[code](not-a-link.md)`\n\n# Top\n")
    problems = check_links.broken_links(page)
    assert len(problems) == 2, problems
    assert "nowhere.md does not exist" in problems[0]
    assert "no heading #no-such in guide.md" in problems[1]


def test_the_front_page_stays_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= FRONT_PAGE_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {FRONT_PAGE_MAX_LINES}): put the detail in a page of docs/ "
        "and link to it")
    text = "\n".join(lines)
    for command in ("make demo", "make test"):
        assert command in text, f"the front page must show `{command}`"


# --------------------------------------------------------------------------- the generated CLI reference


def test_the_cli_reference_is_current() -> None:
    committed = cli_reference.PAGE.read_text(encoding="utf-8") if cli_reference.PAGE.exists() else ""
    assert committed == cli_reference.render(), (
        "docs/reference/cli.md is stale (the mediahook parser changed): run make cli-docs and commit the page")


def test_the_cli_reference_has_every_command_and_option() -> None:
    import lib.cli

    page = cli_reference.render()
    assert cli_reference.commands_of_page(page) == [f"mediahook {c.name}" for c in lib.cli.COMMANDS]
    (sub,) = [a for a in lib.cli.parser()._actions if a.dest == "command"]
    for name, parser in sub.choices.items():
        section = page.split(f"## mediahook {name}\n", 1)[1].split("\n## ", 1)[0]
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in section, f"mediahook {name} {option} is not in its reference section"


# --------------------------------------------------------------------------- the runbook


def test_every_alarm_has_a_runbook_section() -> None:
    missing = sorted(set(_alarms()) - set(_runbook_sections()))
    assert not missing, "\n".join(
        f"serverless.yml creates the alarm {name} but {RUNBOOK} has no section for it: add '## {name}' with "
        f"{', '.join(RUNBOOK_PARTS)} (what it watches, what it means, what to look at first: the dashboard "
        f"widget by its title, a Logs Insights query, the archive prefix; what to do)" for name in missing)


def test_every_runbook_section_is_an_alarm_the_stack_creates() -> None:
    extra = sorted(set(_runbook_sections()) - set(_alarms()))
    assert not extra, (f"{RUNBOOK} has sections for alarms serverless.yml does not create: {extra}. Name each "
                       "section after its alarm's logical id (the Resources key), or remove it with the alarm")


def test_every_alarm_description_names_its_runbook_section() -> None:
    anchors = check_links.anchors((ROOT / RUNBOOK).read_text(encoding="utf-8"))
    for name, properties in _alarms().items():
        anchor = check_links.toc_slug(name)
        wanted = f"Runbook: {RUNBOOK}#{anchor}"
        description = properties.get("AlarmDescription", "")
        assert isinstance(description, str) and description.endswith(wanted), (
            f"end {name}'s AlarmDescription in serverless.yml with '{wanted}' (quote the value: it holds ': ')")
        assert anchor in anchors
        assert len(description) <= 1024  # CloudFormation's limit


def test_every_runbook_section_says_what_to_watch_mean_look_at_and_do() -> None:
    for name, body in _runbook_sections().items():
        absent = [part for part in RUNBOOK_PARTS if part not in body]
        assert not absent, f"{RUNBOOK} section {name} lacks {', '.join(absent)}"
        assert "```" in body, f"{RUNBOOK} section {name} gives no Logs Insights query"


def test_the_runbook_names_dashboard_widgets_that_exist() -> None:
    """The runbook names widgets by their title, in italics (and uses italics for nothing else)."""
    body = _resources()["Dashboard"]["Properties"]["DashboardBody"]
    widgets = set(re.findall(r'"title":\s*"([^"]+)"', body["!Sub"] if isinstance(body, dict) else body))
    text = " ".join((ROOT / RUNBOOK).read_text(encoding="utf-8").split())
    named = set(re.findall(r"(?<![*\w])\*([^*\s][^*]*?)\*(?![*\w])", text))
    assert named, "the runbook names no dashboard widget"
    unknown = sorted(named - widgets)
    assert not unknown, f"{RUNBOOK} names dashboard widgets that serverless.yml's Dashboard does not have: {unknown}"
