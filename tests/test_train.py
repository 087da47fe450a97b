"""The training CLI: complete model folders, per-case models, reproducibility and clear errors."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import TINY_ARGS
from tweetner import train
from tweetner.config import TrainConfig
from tweetner.trainer import tune_threshold


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tweetner.train", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_joint_model_folder_is_complete(tiny_model):
    extra = tiny_model / "assets.extra" / "tweetner"
    config = json.loads((extra / "config.json").read_text())
    assert config["train"]["case"] is None and config["model"]["word_dim"] == 8
    assert len(config["data"]["sha256"]) == 64
    validation = json.loads((extra / "validation.json").read_text())
    assert validation["history"] and validation["scores"]["case_studies"] == ["A", "B", "C"]
    assert (tiny_model / "saved_model.pb").is_file() and (extra / "words.txt").is_file()
    card = (extra / "MODEL_CARD.md").read_text()
    assert config["data"]["sha256"] in card and "--word-dim 8" in card and "| average |" in card
    assert "Size on disk" in card


def test_per_case_trains_one_model_per_case_study(tmp_path):
    assert train.main([*TINY_ARGS, "--epochs", "1", "--per-case", "--out", str(tmp_path)]) == 0
    for case in "ABC":
        extra = tmp_path / f"tweetner_{case}" / "1" / "assets.extra" / "tweetner"
        config = json.loads((extra / "config.json").read_text())
        assert config["train"]["case"] == case
        assert json.loads((extra / "validation.json").read_text())["scores"]["case_studies"] == [case]
    assert not (tmp_path / "tweetner").exists()


def test_same_seed_same_model(tmp_path):
    import tensorflow as tf

    from tweetner.serving import load_serving

    outs = []
    for run in ("a", "b"):
        assert train.main([*TINY_ARGS, "--epochs", "1", "--out", str(tmp_path / run)]) == 0
        serve = load_serving(tmp_path / run / "tweetner" / "1")
        out = serve(tf.constant(["exploit in acme router 2.1", "hello world", ""], tf.string))
        outs.append((out["probability"].numpy(), out["tags"].numpy()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    assert (outs[0][1] == outs[1][1]).all()


def test_next_run_writes_a_new_version(tmp_path):
    for _ in range(2):
        assert train.main([*TINY_ARGS, "--epochs", "1", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "tweetner").iterdir()) == ["1", "2"]


@pytest.mark.parametrize("args, needle", [
    (["--epochs", "0"], "epochs must be a positive integer"),
    (["--val-fraction", "1.5"], "val_fraction"),
    (["--data", "does-not-exist.csv"], "does-not-exist.csv"),
    (["--embeddings", "no-such-vectors.txt"], "no-such-vectors.txt"),
    (["--dropout", "1"], "dropout"),
])
def test_bad_options_give_one_line_and_exit_2(args, needle):
    r = _cli(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unwritable_output_folder_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = _cli("--out", blocker / "models")
    assert r.returncode == 2 and "--out" in r.stderr and "Traceback" not in r.stderr
    assert "epoch" not in r.stderr


def test_per_case_on_a_file_without_case_columns_is_a_clear_error(tmp_path):
    csv = tmp_path / "nocase.csv"
    rows = ["clean_tweet,relevant,entities"] + [
        f"exploit in acme router {i},1,O O B-ORG B-PRO B-VER" if i % 2 else f"nice day number {i},0," for i in range(40)]
    csv.write_text("\n".join(rows) + "\n")
    r = _cli("--data", csv, "--per-case", "--out", tmp_path / "out")
    assert r.returncode == 2 and "A, B, C" in r.stderr and "Traceback" not in r.stderr


def test_tune_threshold_maximises_the_averaged_tpr_tnr_f1():
    probs = np.array([0.1, 0.2, 0.35, 0.4, 0.8, 0.9])
    labels = np.array([0, 0, 0, 1, 1, 1])
    threshold, f1 = tune_threshold(probs, labels, [np.ones(6, bool)])
    assert 0.35 < threshold <= 0.4 and f1 == 1.0
    # Two case studies that disagree: the average decides.
    g1, g2 = np.array([1, 1, 1, 1, 0, 0], bool), np.array([0, 0, 1, 1, 1, 1], bool)
    t, f = tune_threshold(probs, labels, [g1, g2])
    assert 0.35 < t <= 0.4 and f == 1.0


def test_train_config_rejects_nonsense():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
