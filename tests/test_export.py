"""Export: the reloaded SavedModel (in a fresh process) agrees with the in-memory pipeline; writes are atomic."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tweetner.config import ModelConfig, TrainConfig
from tweetner.data import load_csv, sample_path
from tweetner.export import next_version, write_atomically
from tweetner.split import split_train_val

TWEETS = [
    "Critical RCE in Acme Router 2.1 (CVE-2031-0042) exploited in the wild!",
    "",
    "   ",
    "patch",
    "the weather is nice today",
    " ".join(["overflow"] * 1500),
    "caf\u00e9 \u00fcber \U0001F525 @someone #infosec &amp; RT",
]

FRESH = r"""
import json, sys
import tensorflow as tf
from tweetner.serving import load_serving
serve = load_serving(sys.argv[1])
out = serve(tf.constant(json.loads(sys.stdin.read()), tf.string))
n = out["lengths"].numpy().tolist()
print(json.dumps({"probability": out["probability"].numpy().tolist(), "relevant": out["relevant"].numpy().tolist(),
                  "lengths": n, "tags": [[t.decode() for t in row[:k]] for row, k in zip(out["tags"].numpy(), n)],
                  "tokens": [[t.decode() for t in row[:k]] for row, k in zip(out["tokens"].numpy(), n)]}))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tweetner.trainer import Trainer

    examples, _ = load_csv(sample_path(), repair_iob=True)
    train, val = split_train_val(examples, 0.2, 3)
    mcfg = ModelConfig(word_dim=8, char_dim=4, char_filters=6, lstm_units=8)
    trainer = Trainer(train, val, mcfg, TrainConfig(epochs=1, embeddings="random", max_vocab=300), log=lambda *a: None)
    trainer.fit()
    root = tmp_path_factory.mktemp("export")
    directory = write_atomically(root / "m" / "1", lambda d: trainer.save(d, {"path": "sample"}))
    return trainer, directory


def test_fresh_process_savedmodel_equals_in_memory(trained):
    import tensorflow as tf

    trainer, directory = trained
    pipeline = trainer.pipeline()  # keep a reference: the traced function holds its module weakly
    mem = pipeline.serve(tf.constant(TWEETS, tf.string))
    r = subprocess.run([sys.executable, "-c", FRESH, str(directory)], input=json.dumps(TWEETS), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    n = mem["lengths"].numpy().tolist()
    assert got["lengths"] == n and n[1] == 0 and n[2] == 0 and n[5] == 1500
    assert got["relevant"] == mem["relevant"].numpy().tolist()
    np.testing.assert_allclose(got["probability"], mem["probability"].numpy(), atol=1e-5)
    assert got["tags"] == [[t.decode() for t in row[:k]] for row, k in zip(mem["tags"].numpy(), n)]
    assert got["tokens"][0][:4] == ["critical", "rce", "in", "acme"]


def test_export_folder_is_complete(trained):
    _, directory = trained
    extra = directory / "assets.extra" / "tweetner"
    for name in ("saved_model.pb", "variables/variables.index"):
        assert (directory / name).is_file()
    config = json.loads((extra / "config.json").read_text())
    assert config["num_words"] == len((extra / "words.txt").read_text().split("\n")) - 1
    assert 0.0 < config["threshold"] < 1.0
    assert "tensorflow" in config["versions"]
    assert json.loads((extra / "validation.json").read_text())["scores"]["average"]["relevance"]["f1"] >= 0


def test_saved_model_cli_lists_the_string_input(trained):
    _, directory = trained
    cli = Path(sys.executable).with_name("saved_model_cli")
    if not cli.exists():
        pytest.skip("saved_model_cli not installed beside this Python")
    r = subprocess.run([str(cli), "show", "--dir", str(directory), "--tag_set", "serve", "--signature_def",
                        "serving_default"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "DT_STRING" in r.stdout and "tweets" in r.stdout
    for key in ("probability", "relevant", "tokens", "tags", "lengths"):
        assert key in r.stdout


def test_write_atomically_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "m" / "1"

    def crash(d: Path):
        (d / "saved_model.pb").write_text("half")
        raise RuntimeError("killed mid-export")

    with pytest.raises(RuntimeError):
        write_atomically(final, crash)
    assert not final.exists() and list((tmp_path / "m").iterdir()) == []
    write_atomically(final, lambda d: (d / "ok").write_text("1"))
    with pytest.raises(RuntimeError):
        write_atomically(final, crash)
    assert (final / "ok").read_text() == "1" and [p.name for p in (tmp_path / "m").iterdir()] == ["1"]
    assert next_version(tmp_path / "m") == 2 and next_version(tmp_path / "none") == 1
    assert final.stat().st_mode & 0o055 == 0o055  # readable by a server running as another user
