"""Check the relative links of Markdown files outside the docs site (the README): every target exists, and
every ``#anchor`` is a heading (or an explicit ``{#id}``) of the page it points into.

    python scripts/check_links.py README.md [more.md ...]      # exit 1 and one line per broken link

``mkdocs build --strict`` checks the links inside ``docs/``; the README is read on the forge and in a
checkout, not in the site, so it is checked here (``make docs`` runs both; so does ``tests/test_docs.py``).
A heading's anchor is taken as the forge writes it (GitHub's rule) and as MkDocs does (Python-Markdown's
``toc`` slugify): the README is read both ways, and the two agree on every plain heading.

Standard library only.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent

INLINE_LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+[\"'(].*)?$", re.MULTILINE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
EXPLICIT_ID = re.compile(r"\{\s*#([\w-]+)[^}]*\}\s*$")
HTML_ID = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""")
FENCE = re.compile(r"^(\s{0,3})(`{3,}|~{3,}).*?^\1\2[`~]*\s*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)


def _prose(text: str) -> str:
    """The text without fenced blocks and code spans: links in code are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _strip_markup(title: str) -> str:
    title = EXPLICIT_ID.sub("", title)
    title = re.sub(r"`([^`]*)`", r"\1", title)
    title = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", title)
    return re.sub(r"<[^>]+>", "", title).strip()


def github_slug(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation but ``-`` and ``_`` dropped, each space a ``-``."""
    return re.sub(r"[^\w\- ]", "", _strip_markup(title).lower()).replace(" ", "-")


def toc_slug(title: str) -> str:
    """Python-Markdown's ``toc`` slugify, as MkDocs uses it."""
    text = unicodedata.normalize("NFKD", _strip_markup(title)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown page defines: its headings (both ways, with ``-1``, ``-2`` for repeats)."""
    found: set[str] = set(HTML_ID.findall(text))
    seen: dict[str, int] = {}
    for match in HEADING.finditer(FENCE.sub("", text)):
        title = match.group(2)
        explicit = EXPLICIT_ID.search(title)
        if explicit:
            found.add(explicit.group(1))
            continue
        for slug in {github_slug(title), toc_slug(title)}:
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(text: str) -> list[str]:
    prose = _prose(text)
    return [*INLINE_LINK.findall(prose), *IMAGE_LINK.findall(prose), *REFERENCE_DEFINITION.findall(prose)]


def broken_links(page: Path) -> list[str]:
    """One message per relative link of ``page`` whose target or anchor does not exist."""
    text = page.read_text(encoding="utf-8")
    problems = []
    for target in links(text):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
            continue  # http(s), mailto: not checked here (no network)
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / unquote(path_part)).resolve() if path_part else page.resolve()
        where = f"{page.name}: ({target})"
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{where} points outside the repository")
            continue
        if not resolved.exists():
            problems.append(f"{where}: {resolved.relative_to(ROOT)} does not exist")
            continue
        if anchor:
            if resolved.suffix != ".md" or resolved.is_dir():
                problems.append(f"{where}: an anchor into a file that is not a Markdown page")
            elif unquote(anchor) not in anchors(resolved.read_text(encoding="utf-8")):
                problems.append(f"{where}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    return problems


def main(argv: list[str]) -> int:
    pages = [Path(p) for p in argv] or [ROOT / "README.md"]
    problems = [problem for page in pages for problem in broken_links(page.resolve())]
    for problem in problems:
        print(problem, file=sys.stderr)
    checked = sum(len(links(p.read_text(encoding="utf-8"))) for p in pages)
    print(f"{checked} links checked in {', '.join(p.name for p in pages)}: "
          + (f"{len(problems)} broken" if problems else "all resolve"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
