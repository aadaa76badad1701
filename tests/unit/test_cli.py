"""The ``mediahook`` command line's structure: one module per command, each registered, one entry point."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import tomllib

import pytest

import lib.cli
from lib.cli.common import Command
from tests.aws_server import ROOT


def _command_modules() -> dict[str, Command]:
    found = {}
    for info in pkgutil.iter_modules(lib.cli.__path__):
        if info.name.startswith("_"):
            continue  # __main__ runs the command line when imported
        module = importlib.import_module(f"lib.cli.{info.name}")
        if isinstance(getattr(module, "COMMAND", None), Command):
            found[info.name] = module.COMMAND
    return found


def test_every_command_module_is_registered_once_under_its_own_name() -> None:
    modules = _command_modules()
    assert {"send", "validate", "replay", "schema", "smoke"} <= set(modules)
    registered = [command.name for command in lib.cli.COMMANDS]
    assert len(registered) == len(set(registered)), registered
    missing = sorted(set(modules) - set(registered))
    assert not missing, f"add {', '.join(f'{name}.COMMAND' for name in missing)} to COMMANDS in lib/cli/__init__.py"
    for name, command in modules.items():
        assert command.name == name, f"lib/cli/{name}.py registers a command named {command.name!r}"


@pytest.mark.parametrize("command", [c.name for c in lib.cli.COMMANDS])
def test_every_option_says_what_it_is_for(command: str) -> None:
    """The CLI reference is generated from these help strings: an option without one documents nothing."""
    (sub,) = [a for a in lib.cli.parser()._actions if a.dest == "command"]
    parser = sub.choices[command]
    assert parser.description, f"{command} has no description"
    for action in parser._actions:
        assert action.help, f"mediahook {command}: {action.option_strings or action.dest} has no help"


def test_the_console_command_and_python_m_run_the_same_main() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["mediahook"] == "lib.cli:main"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert "lib.cli" in packages  # a regular (non-editable) install ships the package too
    result = subprocess.run([sys.executable, "-m", "lib.cli", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for command in lib.cli.COMMANDS:
        assert command.name in result.stdout


def test_a_missing_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        lib.cli.main([])
    assert exit_info.value.code == 2
