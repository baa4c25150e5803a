import subprocess
import sys

import pytest

from pipelines.cli import build_parser, main

COMMANDS = ["run", "compile", "submit", "profiles", "plan-memory", "follow", "promote", "rollback"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: ichigo " + cmd in out and len(out) > 150


def test_console_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "pipelines.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "examples:" in r.stdout


def test_bad_profile_is_a_clear_error(capsys):
    assert main(["run", "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert main(["run", "--set", "training.stages.stage1.lr=-3"]) == 2
    assert "training.stages.stage1.lr" in capsys.readouterr().err


def test_cluster_profile_is_not_run_locally(capsys):
    assert main(["run", "--profile", "h100"]) == 2
    assert "ichigo submit" in capsys.readouterr().err


def test_serve_help_is_the_serving_cli(capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    assert "--model" in capsys.readouterr().out
