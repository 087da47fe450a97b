"""Shared fixtures. Tests that need the real competition file skip cleanly when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The competition training file lives beside the checkout, never inside it (licence terms).
TRAIN_CSV = Path(os.environ.get("TWEETNER_TRAIN_CSV", REPO.parent / "shared" / "data" / "mlcs2019" / "train.csv"))


@pytest.fixture
def train_csv() -> Path:
    """Path of the real competition training file; skips the test when it is absent."""
    if not TRAIN_CSV.is_file():
        pytest.skip(f"competition training file not found at {TRAIN_CSV}")
    return TRAIN_CSV


# Tiny model sizes: the whole pipeline (train -> export -> predict) in seconds.
TINY_ARGS = [
    "--epochs", "2", "--patience", "0", "--word-dim", "8", "--char-dim", "4", "--char-filters", "6",
    "--lstm-units", "8", "--max-vocab", "300", "--embeddings", "random", "--batch-size", "32", "--quiet",
]


@pytest.fixture(scope="session")
def tiny_model_root(tmp_path_factory) -> Path:
    """A models root holding a tiny joint model `tweetner/1`, trained on the bundled sample (session-wide)."""
    from tweetner import train

    root = tmp_path_factory.mktemp("models")
    assert train.main([*TINY_ARGS, "--out", str(root)]) == 0
    return root


@pytest.fixture(scope="session")
def tiny_model(tiny_model_root) -> Path:
    """The SavedModel version folder of the tiny joint model."""
    return tiny_model_root / "tweetner" / "1"
