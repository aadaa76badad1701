"""An MkDocs hook (mkdocs.yml ``hooks:``): the scripts the site would otherwise load from a CDN, served from
the site itself, so it works with no network at all (opened from disk, or with ``mkdocs serve``).

Material loads two scripts from unpkg.com when a page needs them: Mermaid (for the diagrams; not when a
``mermaid`` global already exists) and, with the offline plugin, the iframe-worker shim that lets the search
run from ``file://`` (not when ``extra.polyfills`` already names one). mkdocs.yml names the copies below in
``extra_javascript`` and ``extra.polyfills``; this hook adds them to the site's files from ``node_modules/``,
where ``package.json`` pins their versions (``make install`` installs them). Nothing is committed twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"

# The site's path -> the npm package's file (package.json pins the package).
VENDORED = {
    "assets/vendor/mermaid/mermaid.min.js": "mermaid/dist/mermaid.min.js",
    "assets/vendor/iframe-worker/shim.js": "iframe-worker/shim/index.js",
}


def on_files(files: Files, config: Any) -> Files:
    """Add each vendored script to the site, read from node_modules/ (a clear error when it is missing)."""
    for site_path, package_file in VENDORED.items():
        source = NODE_MODULES / package_file
        if not source.is_file():
            raise PluginError(f"{source} is missing: run `make install` (npm ci installs the pinned "
                              f"{package_file.split('/')[0]} the docs site serves itself)")
        files.append(File.generated(config, site_path, abs_src_path=str(source)))
    return files
