"""The artifact users deploy: what ``make package`` builds, run as Lambda runs it.

Built by ``osls package`` (serverless-python-requirements + plugins/artifact.js) with the runtime's own
CPython 3.12; unpacked read-only and served by that interpreter in isolated mode with bytecode writing
off, boto3 from a directory of its own, Lambda's environment, moto server for AWS (scripts/lambda_like.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import lambda_like
from tests.aws_server import archive_and_topic, moto_server, server_client
from tests.conftest import EVENTS, all_event_files
from tests.packaging import package

pytestmark = pytest.mark.slow

# Everything the zip may hold at its top level: our code and the runtime closure of requirements.lock.
ALLOWED_TOP_LEVEL = {
    "handler.py", "__pycache__", "lib",
    "annotated_types", "aws_lambda_powertools", "aws_xray_sdk", "certifi", "charset_normalizer", "idna",
    "jmespath", "orjson", "pydantic", "pydantic_core", "requests", "tencentcloud", "typing_extensions.py",
    "typing_inspection", "urllib3", "wrapt",
}
ELF_MACHINE = {"x86_64": 62, "arm64": 183}  # EM_X86_64, EM_AARCH64
NATIVE = ("pydantic_core/_pydantic_core", "orjson/orjson")


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return archive.namelist()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _functions(template_dir: Path) -> dict[str, dict[str, Any]]:
    template = json.loads((template_dir / "cloudformation-template-update-stack.json").read_text())
    return {r["Properties"]["Handler"]: r for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"}


def test_the_zip_holds_only_what_runs(packaged: Path) -> None:
    names = _names(packaged / "mediahook.zip")
    assert {n.split("/", 1)[0] for n in names} == ALLOWED_TOP_LEVEL
    for forbidden in ("boto3/", "botocore/", "s3transfer/", "tests/", "events/", "bin/", "moto/", "pytest/"):
        assert not any(n.startswith(forbidden) for n in names), forbidden
    assert not any(".dist-info/" in n or n.endswith("requirements.txt") for n in names)
    assert {"handler.py", "lib/api.py", "lib/pipeline.py"} <= set(names)
    # Linux wheels for the Lambda runtime, not this machine's Python.
    assert any(re.fullmatch(r"pydantic_core/_pydantic_core\.cpython-312-x86_64-linux-gnu\.so", n) for n in names)


def test_every_module_ships_unchecked_hash_bytecode_for_the_runtime(packaged: Path) -> None:
    with zipfile.ZipFile(packaged / "mediahook.zip") as archive:
        names = set(archive.namelist())
        sources = sorted(n for n in names if n.endswith(".py"))
        assert len(sources) > 500
        for source in sources:
            folder, _, module = source.rpartition("/")
            cached = f"{folder + '/' if folder else ''}__pycache__/{module[:-3]}.cpython-312.pyc"
            assert cached in names, f"{source} has no bytecode for CPython 3.12"
        for cached in (n for n in names if n.endswith(".pyc")):
            header = archive.read(cached)[:16]
            assert header[:4] == (3531).to_bytes(2, "little") + b"\r\n", cached  # CPython 3.12's magic number
            assert int.from_bytes(header[4:8], "little") == 0b01, cached  # hash-based, source not checked
        assert not any(n.endswith(".pyc") and "cpython-312" not in n for n in names)


def test_entries_have_fixed_timestamps_and_modes(packaged: Path) -> None:
    with zipfile.ZipFile(packaged / "mediahook.zip") as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_building_twice_gives_the_same_zip(packaged: Path, tmp_path: Path) -> None:
    result = package(tmp_path)
    assert _sha256(tmp_path / "mediahook.zip") == _sha256(packaged / "mediahook.zip")
    size = (tmp_path / "mediahook.zip").stat().st_size
    assert f"sha256 {_sha256(tmp_path / 'mediahook.zip')}" in result.stdout + result.stderr  # printed
    assert f"{size / 1e6:.2f} MB" in result.stdout + result.stderr


def test_native_extensions_are_for_the_target_machine(packaged: Path, tmp_path: Path) -> None:
    package(tmp_path, "architecture=arm64", "snapStart=true")
    for zip_dir, arch in ((packaged, "x86_64"), (tmp_path, "arm64")):
        with zipfile.ZipFile(zip_dir / "mediahook.zip") as archive:
            for prefix in NATIVE:
                (name,) = [n for n in archive.namelist() if n.startswith(prefix) and n.endswith(".so")]
                header = archive.read(name)[:20]
                assert header[:4] == b"\x7fELF", name
                assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[arch], (name, arch)
        assert {f["Properties"]["Architectures"][0] for f in _functions(zip_dir).values()} == {arch}
    # The same modules and bytecode whatever the machine: only the native extensions differ.
    same = [n for n in _names(tmp_path / "mediahook.zip") if not n.endswith(".so")]
    assert same == [n for n in _names(packaged / "mediahook.zip") if not n.endswith(".so")]
    _assert_snapstart(tmp_path, on=True)
    _assert_snapstart(packaged, on=False)


def _assert_snapstart(template_dir: Path, *, on: bool) -> None:
    template = json.loads((template_dir / "cloudformation-template-update-stack.json").read_text())
    resources = template["Resources"]
    functions = _functions(template_dir)
    callback = functions["handler.callback"]["Properties"]
    integrations = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Integration"]
    assert integrations
    if on:
        assert callback["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        aliases = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Alias"}
        assert len(aliases) == 1
        (alias,) = aliases.values()
        assert alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0].startswith("CallbackLambdaVersion")
        for integration in integrations:  # the HTTP API calls the alias, whose version has the snapshot
            uri = json.dumps(integration["IntegrationUri"])
            assert alias["Properties"]["Name"] in uri, uri
        assert all("SnapStart" not in f["Properties"] for h, f in functions.items() if h != "handler.callback")
    else:
        assert all("SnapStart" not in f["Properties"] for f in functions.values())
        assert not [r for r in resources.values() if r["Type"] == "AWS::Lambda::Alias"]


def test_no_runtime_interpreter_is_a_clear_error_not_a_zip_without_bytecode(tmp_path: Path) -> None:
    result = package(tmp_path, env={"RUNTIME_PYTHON": str(tmp_path / "no-such-python3.12")}, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Install CPython 3.12" in output and "RUNTIME_PYTHON" in output, output
    assert not (tmp_path / "mediahook.zip").exists()


def test_an_interpreter_of_another_version_is_refused(tmp_path: Path) -> None:
    other = shutil.which("python3.11") or shutil.which("python3")
    assert other
    result = package(tmp_path, env={"RUNTIME_PYTHON": other}, check=False)
    assert result.returncode != 0 and "none answered as Python 3.12" in result.stdout + result.stderr


# --------------------------------------------------------------------------- run as Lambda runs it


@pytest.fixture(scope="module")
def runtime() -> tuple[str, Path]:
    python = lambda_like.runtime_python()
    return python, lambda_like.runtime_dir(python)


@pytest.fixture
def task_root(packaged: Path, tmp_path: Path) -> Iterator[Path]:
    root = lambda_like.unpack(packaged / "mediahook.zip", tmp_path / "var-task")
    yield root
    lambda_like.make_writable(root)


def test_every_sample_through_the_artifact_on_the_runtime(runtime: tuple[str, Path], task_root: Path) -> None:
    python, runtime_dir = runtime
    paths = all_event_files()
    events = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    before = sorted(p.relative_to(task_root).as_posix() for p in task_root.rglob("*"))
    with moto_server() as endpoint:
        _, topic, queue = archive_and_topic(endpoint, "mediahook-artifact")
        s3, sqs = server_client(endpoint, "s3"), server_client(endpoint, "sqs")
        server_client(endpoint, "dynamodb").create_table(  # as the stack has it: exactly-once effects
            TableName="mediahook-artifact-idempotency", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        env = lambda_like.lambda_environment("mediahook-ci-callback", "handler.callback", task_root, runtime_dir, {
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "artifact", "AWS_SECRET_ACCESS_KEY": "artifact",
            "ARCHIVE_BUCKET": "mediahook-artifact", "EVENTS_TOPIC_ARN": topic, "CALLBACK_TOKENS": "local-demo-token",
            "AUTH_MODE": "required", "IDEMPOTENCY_TABLE": "mediahook-artifact-idempotency",
            "POWERTOOLS_SERVICE_NAME": "mediahook",
            "POWERTOOLS_METRICS_NAMESPACE": "Mediahook", "PYDANTIC_DISABLE_PLUGINS": "__all__"})

        recorded = lambda_like.invoke(python, task_root, runtime_dir, "handler.callback", events, env)

        assert recorded["python"].startswith("3.12.")
        assert recorded["flags"] == {"isolated": 1, "dont_write_bytecode": 1}
        assert recorded["sys_path"][0] == str(task_root)
        assert not any(".venv" in p or "site-packages" in p for p in recorded["sys_path"])
        assert recorded["compiled_from_source"] == []  # every module of the artifact loaded from its bytecode
        bodies: dict[tuple[str, str], bytes] = {}  # by (product, event_id): an event's identity
        for path, event, response in zip(paths, events, recorded["responses"], strict=True):
            assert response["statusCode"] == 200, (path, response)
            (result,) = json.loads(response["body"])["results"]
            # events/mps/ProcedureStateChanged.json is events/vod/'s body sent to /callback/mps: the same
            # event_id, another source, so another event: neither is a duplicate.
            assert result["duplicate"] is False, path
            bodies[(result["product"], result["event_id"])] = event["body"].encode("utf-8")
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="mediahook-artifact")
                for o in page.get("Contents", [])]
        assert len(keys) == len(bodies) == len(events)
        for key in keys:
            product, event_id = key.split("/", 1)[0], key.rsplit("/", 1)[1].removesuffix(".json")
            assert s3.get_object(Bucket="mediahook-artifact", Key=key)["Body"].read() == bodies[(product, event_id)]
        notified: list[tuple[str, str]] = []
        while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            notified += [(json.loads(m["Body"])["source"].removeprefix("tencentcloud/"), json.loads(m["Body"])["id"])
                         for m in batch]
            sqs.delete_message_batch(QueueUrl=queue, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
        assert sorted(notified) == sorted(bodies)  # one notification per event
    after = sorted(p.relative_to(task_root).as_posix() for p in task_root.rglob("*"))
    assert after == before  # nothing written into /var/task
    assert len(paths) == len(list(EVENTS.rglob("*.json")))


@pytest.mark.builds_in_root
def test_make_package_as_the_readme_shows_it() -> None:
    """`make package ARCH=arm64` and `make package-size`: the zip in .serverless/, its size and sha256 printed."""
    import os
    import subprocess

    from tests.aws_server import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    built = subprocess.run(["make", "package", "ARCH=arm64", "STAGE=ci"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    artifact = ROOT / ".serverless" / "mediahook.zip"
    assert f"sha256 {_sha256(artifact)}" in built.stdout + built.stderr
    with zipfile.ZipFile(artifact) as archive:
        (core,) = [n for n in archive.namelist() if n.startswith("pydantic_core/") and n.endswith(".so")]
        assert "aarch64" in core and int.from_bytes(archive.read(core)[18:20], "little") == ELF_MACHINE["arm64"]
    sized = subprocess.run(["make", "package-size"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600, check=False)
    assert sized.returncode == 0 and re.search(r"\d+\.\d\d MB zipped, \d+\.\d\d MB unzipped, \d+ files", sized.stdout)
