"""Deploy the real serverless.yml with ``osls deploy`` onto a moto server, and remove it again.

    python scripts/deploy_local.py deploy [--stage dev] [--moto-port 5000]   (make deploy-local)
    python scripts/deploy_local.py remove [--stage dev] [--moto-port 5000]   (make remove-local)

``deploy`` reuses a server that answers on MOTO_PORT, or starts one that keeps running after it exits
(its pid in ``.local/moto-deploy.pid``, its log in ``.local/moto-deploy.log``), then runs ``osls deploy``
with plugins/local-endpoint.js switched on (MEDIAHOOK_LOCAL_AWS_ENDPOINT): the same package, template and
plugins as a real deployment, every AWS call sent to moto. It prints the stack's outputs and leaves it
deployed. ``remove`` runs ``osls remove`` the same way and stops the server if ``deploy`` started it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".local"
PID_FILE = STATE / "moto-deploy.pid"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": REGION,
               "AWS_DEFAULT_REGION": REGION}


def endpoint_for(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def answers(endpoint: str) -> bool:
    """A moto server serves its dashboard at /moto-api/; anything else on the port is not one."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=5) as response:
            return bool(response.status == 200 and b"moto" in response.read().lower())
    except OSError:
        return False


def ensure_moto(port: int, state: Path = STATE) -> tuple[str, bool]:
    """The endpoint of a moto server on ``port``, started (detached) if none answers. True if started here."""
    endpoint = endpoint_for(port)
    if answers(endpoint):
        return endpoint, False
    state.mkdir(parents=True, exist_ok=True)
    log = (state / "moto-deploy.log").open("ab")
    binary = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log,
                               start_new_session=True)  # outlives this script: the stack stays deployed
    deadline = time.monotonic() + 30
    while not answers(endpoint):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"moto server did not start on 127.0.0.1:{port} (is the port taken by something "
                             f"else? set MOTO_PORT); see {state / 'moto-deploy.log'}")
        time.sleep(0.2)
    (state / PID_FILE.name).write_text(str(process.pid))
    return endpoint, True


def osls_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, **CREDENTIALS, "MEDIAHOOK_LOCAL_AWS_ENDPOINT": endpoint,
            "PATH": f"{ROOT / '.venv' / 'bin'}:{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}"}


def osls(command: list[str], endpoint: str, service_dir: Path = ROOT,
         capture: bool = False) -> subprocess.CompletedProcess[str]:
    binary = ROOT / "node_modules" / ".bin" / "osls"
    return subprocess.run([str(binary), *command], cwd=service_dir, env=osls_env(endpoint), text=True,
                          capture_output=capture, timeout=900, check=False)


def stack_outputs(endpoint: str, stage: str) -> dict[str, str]:
    import boto3

    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION,
                                  aws_access_key_id="local", aws_secret_access_key="local")
    stack: dict[str, Any] = cloudformation.describe_stacks(StackName=f"mediahook-{stage}")["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def deploy(stage: str, port: int) -> int:
    endpoint, started = ensure_moto(port)
    print(f"moto server: {endpoint} ({'started; stays up' if started else 'already running; reused'})")
    result = osls(["deploy", "--stage", stage], endpoint)
    if result.returncode != 0:
        return result.returncode
    print(f"\nStack mediahook-{stage} on {endpoint}:")
    for key, value in sorted(stack_outputs(endpoint, stage).items()):
        print(f"  {key}: {value}")
    print("Remove it with `make remove-local`.")
    return 0


def remove(stage: str, port: int) -> int:
    endpoint = endpoint_for(port)
    if not answers(endpoint):
        print(f"no moto server answers on {endpoint}: nothing to remove", file=sys.stderr)
        return 1
    result = osls(["remove", "--stage", stage], endpoint)
    if PID_FILE.exists():  # started by `deploy`: stop it too
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(PID_FILE.read_text()), signal.SIGTERM)
        PID_FILE.unlink()
        print(f"stopped the moto server on {endpoint}")
    return result.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["deploy", "remove"])
    parser.add_argument("--stage", default=os.environ.get("STAGE", "dev"))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
    args = parser.parse_args(argv)
    return deploy(args.stage, args.moto_port) if args.action == "deploy" else remove(args.stage, args.moto_port)


if __name__ == "__main__":
    sys.exit(main())
