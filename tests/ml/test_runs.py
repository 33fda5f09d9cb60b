"""Where runs live (``MUSICMOOD_RUNS``) and the one-line status of each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml.runs import main, resolve_run, run_status, runs_root

REPO = Path(__file__).resolve().parents[2]
BEST = {"mood_accuracy": 0.701, "age_mae": 5.61, "gender_accuracy": 0.912}


def write_state(run: Path, **state) -> None:
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    base = {
        "config": {"epochs": 18},
        "epoch": 4,
        "history": [{"epoch": n, "seconds": 600.0} for n in range(1, 5)],
        "best_epoch": 3,
        "best_metrics": BEST,
        "status": "running",
        "leg": {"number": 2, "pid": os.getpid(), "updated": 1000.0},
    }
    (run / "checkpoints" / "state.json").write_text(json.dumps({**base, **state}))


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_runs_live_in_musicmood_runs_or_else_in_the_user_cache_folder(tmp_path):
    assert runs_root({"MUSICMOOD_RUNS": str(tmp_path)}) == tmp_path
    assert runs_root({"MUSICMOOD_RUNS": " ", "XDG_CACHE_HOME": "/c"}) == Path("/c/musicmood/runs")
    assert runs_root({}) == Path.home() / ".cache" / "musicmood" / "runs"


def test_a_bare_name_is_a_run_and_anything_with_a_separator_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICMOOD_RUNS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert resolve_run("ship") == tmp_path / "ship"
    assert resolve_run("runs/ship") == Path("runs/ship")
    assert resolve_run("./ship") == Path("ship")
    assert resolve_run(Path("ship")) == Path("ship")  # a Path from code is always a path


def test_status_of_a_run_in_each_of_its_states(tmp_path):
    run = tmp_path / "r"
    assert run_status(run) == f"{run}: no run here"
    (run / "cache").mkdir(parents=True)
    assert "preparing data" in run_status(run)

    write_state(run)
    line = run_status(run, now=1200.0)
    assert line.startswith(
        f"{run}: epoch 4/18; best 3 (val mood 70.1 %, age MAE 5.61, gender 91.2 %)"
    )
    assert "training (leg 2), ~2.3 h left at 10 min/epoch" in line

    write_state(run, leg={"number": 2, "pid": dead_pid(), "updated": 1000.0})
    assert "interrupted after the last checkpoint" in run_status(run, now=1200.0)
    write_state(run)  # alive, but nothing written for more than three epochs' time: hung
    assert "interrupted" in run_status(run, now=1000.0 + 4 * 600)

    write_state(run, status="paused")
    assert "paused by the time budget, ~2.3 h left at 10 min/epoch; continue with --resume" in (
        run_status(run)
    )
    write_state(run, status="finished", epoch=18)
    assert run_status(run).endswith(f"finished; export in {run / 'export'}")


def test_the_command_prints_one_line_per_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MUSICMOOD_RUNS", str(tmp_path))
    assert main([]) == 0
    assert capsys.readouterr().out == f"no runs in {tmp_path} (MUSICMOOD_RUNS)\n"

    write_state(tmp_path / "a", status="paused")
    write_state(tmp_path / "b", status="finished")
    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert main(["b"]) == 0
    assert "finished" in capsys.readouterr().out


RUN_COMMANDS = {
    "python -m ml.runs": "runpy.run_module('ml.runs', run_name='__main__')",
    "manage.py train_status": "sys.argv = ['manage.py', 'train_status']; "
    "runpy.run_path('manage.py', run_name='__main__')",
}


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_both_commands_answer_without_loading_tensorflow(tmp_path, command):
    write_state(tmp_path / "default", status="paused")
    code = (
        "import runpy, sys\n"
        "try:\n"
        f"    {RUN_COMMANDS[command]}\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('tensorflow loaded:', 'tensorflow' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "MUSICMOOD_RUNS": str(tmp_path), "MUSICMOOD_DEV": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "paused by the time budget" in lines[0]
    assert lines[-1] == "tensorflow loaded: False"
