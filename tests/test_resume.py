"""Interrupted training: a kill mid-run leaves the exported model intact, and --resume continues the run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import TINY_ARGS
from tweetner.modeldir import resolve_model


def _args(root, *extra):
    args = [a for a in TINY_ARGS if a != "--quiet"]
    return [sys.executable, "-m", "tweetner.train", *args, "--out", str(root), *extra]


def test_kill_leaves_previous_model_and_resume_continues(tmp_path):
    root = tmp_path / "models"
    assert subprocess.run(_args(root, "--epochs", "1"), capture_output=True, timeout=600).returncode == 0
    first = root / "tweetner" / "1"
    before = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}

    # A long run, killed (SIGKILL: no clean-up) once it has written a checkpoint.
    proc = subprocess.Popen(_args(root, "--epochs", "40", "--patience", "40"), stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    state = root / "tweetner" / ".checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    # The exported model is untouched and still loads; no half-written version is visible.
    after = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in (root / "tweetner").iterdir() if not p.name.startswith(".")) == ["1"]
    assert resolve_model(root) == first
    killed_at = json.loads(state.read_text())["epoch"]

    r = subprocess.run(_args(root, "--epochs", str(killed_at + 1), "--patience", "40", "--resume"),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"resuming after epoch {killed_at}" in r.stderr
    assert f"epoch {killed_at + 1:2d}/" in r.stderr and "epoch  1/" not in r.stderr
    second = root / "tweetner" / "2"
    history = json.loads((second / "assets.extra" / "tweetner" / "validation.json").read_text())["history"]
    assert [h["epoch"] for h in history] == list(range(1, killed_at + 2))
    assert not (root / "tweetner" / ".checkpoint").exists()


def test_resume_refuses_a_checkpoint_made_with_other_options(tmp_path):
    root = tmp_path / "models"
    proc = subprocess.Popen(_args(root, "--epochs", "40", "--patience", "40"), stderr=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)
    state = root / "tweetner" / ".checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not state.is_file():
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert state.is_file()
    r = subprocess.run(_args(root, "--epochs", "3", "--learning-rate", "0.01", "--resume"), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 2 and "other settings" in r.stderr and "Traceback" not in r.stderr
