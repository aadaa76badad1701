"""The documentation: the site builds strictly and offline and needs nothing from outside itself when read
(scripts, styles, fonts; Mermaid and the search work from file:// with no network), the README's links
resolve, the generated CLI reference is current, the layout table names every file of lib/ and every entry
point of handler.py, the operations page's CLI table every command of the parser, and every alarm the stack
creates has its runbook section (and names it)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    """Every alarm the stack creates: serverless.yml's, and those plugins/forward-queues.js makes for each
    forwarding destination (here for one named `sample`, under the kind's name: ForwardAgeAlarmsample is a
    ForwardAgeAlarm)."""
    alarms = {name: resource["Properties"] for name, resource in _resources().items()
              if resource.get("Type") == "AWS::CloudWatch::Alarm"}
    script = ("const { forwardingResources } = require('./plugins/forward-queues.js');"
              "const { resources } = forwardingResources([{ name: 'sample' }], { queueNamePrefix: "
              "'mediahook-ci-forward-', concurrency: '2', ageAlarmSeconds: '3600', alarmsTopic: 'AlarmsTopic' });"
              "console.log(JSON.stringify(resources));")
    made = json.loads(subprocess.run(["node", "-e", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                                     check=True).stdout)
    forwarding = {name.removesuffix("sample"): resource["Properties"] for name, resource in made.items()
                  if resource["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(forwarding) == {"ForwardDeadLettersAlarm", "ForwardAgeAlarm"}
    return alarms | forwarding


def _runbook_sections() -> dict[str, str]:
    """The runbook's ``## `` sections: title -> body."""
    text = (ROOT / RUNBOOK).read_text(encoding="utf-8")
    parts = re.split(r"^## +(.+?)\s*$", text, flags=re.MULTILINE)
    return {title: body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


# --------------------------------------------------------------------------- the site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module's tests: ``mkdocs build --strict`` into a directory of its own."""
    site_dir = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return site_dir


def test_the_site_builds_strictly_without_the_network(site: Path) -> None:
    """``mkdocs build --strict``: a broken link or anchor, a page missing from the nav, any warning fails.
    Its plugins (search, offline), its hook and the Mermaid fence fetch nothing while building."""
    runbook = (site / "operations" / "runbook.html").read_text(encoding="utf-8")
    for alarm in _alarms():
        assert f'id="{alarm.lower()}"' in runbook, f"the built runbook has no #{alarm.lower()}"
    assert '<pre class="mermaid">' in (site / "reliability.html").read_text(encoding="utf-8")


class _References(HTMLParser):
    """What a page loads: scripts, stylesheets and other linked resources, images."""

    LOADED_LINKS = frozenset({"stylesheet", "preload", "modulepreload", "icon", "manifest", "prefetch", "font"})

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("script", "img", "iframe", "source") and attributes.get("src"):
            self.loaded.append(attributes["src"] or "")
        elif tag == "link" and self.LOADED_LINKS & set((attributes.get("rel") or "").split()):
            self.loaded.append(attributes.get("href") or "")


def _outside(reference: str, page: Path, site: Path) -> str | None:
    """Why ``reference`` (from ``page``) is not a file of the site, or None if it is."""
    parts = urlsplit(reference)
    if parts.scheme == "data":
        return None
    if parts.scheme or parts.netloc:
        return "loaded from another host"
    # A path from the root (the 404 page's, served by a host, never opened from disk) is from the site's root.
    base = site if parts.path.startswith("/") else page.parent
    target = (base / parts.path.lstrip("/")).resolve()
    if not target.is_relative_to(site.resolve()):
        return "outside the site"
    return None if target.is_file() else "missing from the site"


def test_no_page_loads_a_script_style_or_font_from_outside_the_site(site: Path) -> None:
    """Opened from disk with no network, every page has everything it loads: scripts, stylesheets, fonts,
    images. Mermaid and the offline search's iframe-worker shim (which Material fetches from a CDN unless
    given) are the site's own copies (scripts/docs_assets.py)."""
    problems = []
    pages = sorted(site.rglob("*.html"))
    for page in pages:
        references = _References()
        references.feed(page.read_text(encoding="utf-8"))
        problems += [f"{page.relative_to(site)}: {ref} ({why})" for ref in references.loaded
                     if (why := _outside(ref, page, site))]
        scripts = " ".join(references.loaded)
        assert "assets/vendor/iframe-worker/shim.js" in scripts, f"{page.relative_to(site)}: no local search shim"
        if '<pre class="mermaid">' in page.read_text(encoding="utf-8"):
            assert "assets/vendor/mermaid/mermaid.min.js" in scripts, f"{page.relative_to(site)}: no local Mermaid"
    for stylesheet in site.rglob("*.css"):
        for ref in re.findall(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""",
                              stylesheet.read_text(encoding="utf-8")):
            if (why := _outside(ref, stylesheet, site)):
                problems.append(f"{stylesheet.relative_to(site)}: {ref} ({why})")
    assert len(pages) > 10 and not problems, "\n".join(problems)
    assert (site / "search" / "search_index.js").is_file()  # the offline plugin's index, readable from file://


def _chromium() -> str | None:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))),
                None)


def _rendered(browser: str, url: str, profile: Path, *, resolve_nothing: bool = True) -> str:
    """The DOM of ``url`` after its scripts ran, in a headless browser that (``resolve_nothing``) can resolve no
    host at all. A page served over http needs the rules off (they fail the search worker's requests to
    127.0.0.1 too); the flags that stop Chromium's own calls home stay on."""
    rules = ["--host-resolver-rules=MAP * ~NOTFOUND"] if resolve_nothing else []
    result = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                             *rules, "--disable-background-networking", "--disable-component-update",
                             "--disable-sync", "--no-first-run", "--virtual-time-budget=15000", "--dump-dom",
                             url], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


# Without Chromium (a developer's machine) these two are skipped; CI (CI=true) installs it (.ci/run), and there a
# missing browser fails them instead.
NO_BROWSER = pytest.mark.skipif(_chromium() is None and os.environ.get("CI") != "true",
                                reason="no Chromium on this machine to open the site in (apt-get install chromium); "
                                       "the test above still holds every page to the site's own files")


@NO_BROWSER
def test_diagrams_and_search_work_from_file_urls_with_no_network(site: Path, tmp_path: Path) -> None:
    """Material replaces a diagram's <pre class="mermaid"> with a <div class="mermaid"> only once Mermaid drew
    it; the search, from file://, lists results only if its worker (through the shim) ran."""
    browser = _chromium()
    assert browser is not None
    page = site / "reliability.html"
    diagrams = page.read_text(encoding="utf-8").count('<pre class="mermaid">')
    dom = _rendered(browser, page.as_uri(), tmp_path / "profile")
    assert dom.count('<div class="mermaid">') == diagrams > 0, "a diagram was not drawn"
    dom = _rendered(browser, (site / "index.html").as_uri() + "?q=ledger", tmp_path / "profile")
    assert re.search(r'md-search-result__meta">\d+ matching documents?<', dom), "the search found nothing"
    assert dom.count("md-search-result__item") > 0


@NO_BROWSER
def test_search_works_under_mkdocs_serve(tmp_path: Path) -> None:
    """`mkdocs serve` (what a writer of these pages runs) serves the same offline search: its worker runs over
    http too and lists results."""
    from tests.aws_server import free_port, wait_for_port

    browser = _chromium()
    assert browser is not None
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "mkdocs", "serve", "--no-livereload", "-a", f"127.0.0.1:{port}"],
                             cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=60)
        # The worker answers over real time, the page's clock is virtual: on a busy machine one render can end
        # before the answer arrives. Three renders; a broken search finds nothing in any of them.
        found = None
        for attempt in range(3):
            dom = _rendered(browser, f"http://127.0.0.1:{port}/index.html?q=ledger", tmp_path / f"profile{attempt}",
                            resolve_nothing=False)
            if found := re.search(r'md-search-result__meta">\d+ matching documents?<', dom):
                break
    finally:
        serve.terminate()
        serve.wait(timeout=20)
    assert found, "the search found nothing"


# --------------------------------------------------------------------------- pages held to the code


def _section(page: str, heading: str) -> str:
    text = (ROOT / page).read_text(encoding="utf-8")
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _table_rows(section: str) -> list[list[str]]:
    """The cells of the body rows of the section's first Markdown table (escaped pipes kept in their cell)."""
    table = re.search(r"^\|.*?(?=\n(?!\|)|\Z)", section, flags=re.MULTILINE | re.DOTALL)
    assert table, "no table in the section"
    rows = table.group(0).splitlines()[2:]
    return [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def _entry_points() -> list[str]:
    """handler.py's entry points: its top-level functions of (event, context)."""
    tree = ast.parse((ROOT / "handler.py").read_text(encoding="utf-8"))
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef)
            and [a.arg for a in node.args.args] == ["event", "context"]]


def test_the_layout_table_names_every_file_of_lib_and_every_entry_point() -> None:
    """docs/getting-started.md says its layout table lists every file: a module added to lib/ without its row
    (or a row left for a module removed) fails here. A file of a package (lib/cli/, lib/reconcile/, ...) is named
    in its package's row, by file name or by its name in backticks."""
    rows = {path: row for row in _table_rows(_section("docs/getting-started.md", "The layout"))
            for path in re.findall(r"`([^`]+)`", row[0])}
    for path in rows:
        assert (ROOT / path).exists(), f"the layout table names {path}, which does not exist"
    missing = []
    for module in sorted((ROOT / "lib").rglob("*.py")):
        relative = module.relative_to(ROOT)
        if relative == Path("lib/__init__.py") or "__pycache__" in relative.parts:
            continue
        if str(relative) in rows:
            continue
        package = f"{relative.parent}/"
        described = " ".join(rows.get(package, []))
        if package in rows and (module.name == "__init__.py" or module.name in described
                                or f"`{module.stem}`" in described):
            continue
        missing.append(str(relative))
    assert not missing, f"docs/getting-started.md's layout table lacks: {', '.join(missing)}"
    handler_row = " ".join(rows["handler.py"])
    entry_points = _entry_points()
    assert len(entry_points) >= 5
    absent = [name for name in entry_points if f"`{name}`" not in handler_row]
    assert not absent, f"the layout table's handler.py row lacks the entry points {absent}"


def test_getting_started_shows_what_make_serve_prints() -> None:
    """The page's `make serve` block is the banner's export line and commands, for the default ports (moto's
    default account names the topic): a change to one without the other fails here."""
    from scripts.local_stack import Stack, banner

    stack = Stack(5000, 3000, 3002, Path(".local"))
    stack.topic_arn = "arn:aws:sns:us-east-1:123456789012:mediahook-local-events"
    printed = [line.strip() for line in banner(stack, Path(".local")).splitlines()]
    section = _section("docs/getting-started.md", "A stack left running: `make serve`")
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    shown = [line.strip() for line in block.splitlines() if line.strip()]
    assert shown and shown[0].startswith("export AWS_ENDPOINT_URL=")
    for line in shown:
        assert line in printed, f"docs/getting-started.md shows `{line}`, which make serve does not print"
    assert [line for line in printed if line.startswith((".venv/bin/mediahook", "export "))] == \
        [line for line in shown if line.startswith((".venv/bin/mediahook", "export "))]


def _parser_commands() -> dict[str, Any]:
    import lib.cli

    (sub,) = [a for a in lib.cli.parser()._actions if a.dest == "command"]
    return dict(sub.choices)


def test_the_operations_cli_table_has_a_row_per_command_with_real_options() -> None:
    """docs/operations/index.md's table of commands: every command of the parser (other engineers add some:
    this fails until their row is there), and only options the command has."""
    rows = _table_rows(_section("docs/operations/index.md", "The operator's CLI"))
    commands = _parser_commands()
    documented: dict[str, list[str]] = {}
    for row in rows:
        usage = re.findall(r"`([^`]+)`", row[0])
        assert usage, f"a row of the CLI table names no command: {row}"
        name = usage[0].split()[0]
        documented.setdefault(name, []).append(usage[0])
    missing = sorted(set(commands) - set(documented))
    assert not missing, f"docs/operations/index.md's CLI table has no row for: {', '.join(missing)}"
    unknown = sorted(set(documented) - set(commands))
    assert not unknown, f"docs/operations/index.md's CLI table has rows for commands that do not exist: {unknown}"
    for name, usages in documented.items():
        options = {o for action in commands[name]._actions for o in action.option_strings}
        for usage in usages:
            for option in re.findall(r"(?<![\w-])--?[a-z][\w-]*", usage):
                assert option in options, f"the CLI table's `{usage}` has {option}, which mediahook {name} lacks"


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
