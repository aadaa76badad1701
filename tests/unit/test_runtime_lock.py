"""requirements.lock, what the artifact is installed from, agrees with requirements.txt and the dev lock."""

from __future__ import annotations

import re

from tests.conftest import ROOT

PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)==(?P<version>\S+)(?P<rest>.*)$")


def _pins(path: str) -> dict[str, tuple[str, str]]:
    pins = {}
    for line in (ROOT / path).read_text().splitlines():
        match = PIN.match(line.split("#", 1)[0].strip())
        if match:
            name = re.sub(r"[-_.]+", "-", match["name"]).lower()
            pins[name] = (match["version"], match["rest"])
    return pins


def test_runtime_lock_pins_the_dev_lock_versions_with_hashes() -> None:
    runtime, dev, direct = _pins("requirements.lock"), _pins("requirements-dev.lock"), _pins("requirements.txt")
    assert runtime
    for name, (version, rest) in runtime.items():
        assert dev[name][0] == version, f"{name}: requirements.lock {version}, requirements-dev.lock {dev[name][0]}"
        assert "--hash=sha256:" in rest, f"{name} has no hash"
    for name, (version, _) in direct.items():
        assert runtime[name][0] == version, f"{name} in requirements.txt is not what requirements.lock pins"
    assert not {"boto3", "botocore", "s3transfer"} & set(runtime)  # the Lambda runtime's own


def test_the_artifact_is_installed_from_the_lock_without_resolving() -> None:
    template = (ROOT / "serverless.yml").read_text()
    assert "fileName: requirements.lock" in template
    assert '"--no-deps"' in template and '"--only-binary=:all:"' in template
