"""Print the zipped and unzipped size of a deployment package: ``python scripts/package_size.py ZIP``."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path


def sizes(path: Path) -> tuple[int, int, int]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        return path.stat().st_size, sum(i.file_size for i in infos), len(infos)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else ".serverless/mediahook.zip")
    zipped, unzipped, files = sizes(path)
    print(f"{path}: {zipped / 1e6:.2f} MB zipped, {unzipped / 1e6:.2f} MB unzipped, {files} files")


if __name__ == "__main__":
    main()
