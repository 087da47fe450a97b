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
