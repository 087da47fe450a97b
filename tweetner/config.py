"""Typed, frozen configuration for the model and its training, written as JSON beside every model.

No TensorFlow here: the CLIs parse flags into these objects before paying for the TensorFlow import.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweetner.data import TAGS

EMBEDDING_SOURCES = ("word2vec", "fasttext", "random")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and switches of the multi-task network (see `tweetner.model.TweetTagger`).

    Variants used in ablations (no character CNN, softmax tags instead of a CRF) are fields here,
    never separate code paths elsewhere.
    """

    tags: tuple[str, ...] = TAGS
    word_dim: int = 100
    char_dim: int = 16
    char_filters: int = 30
    char_kernel: int = 3
    max_word_len: int = 24
    use_chars: bool = True
    lstm_units: int = 64
    dropout: float = 0.5
    use_crf: bool = True
    relevance_hidden: int = 64
    ngram_buckets: int = 2 ** 18
    train_word_embeddings: bool = True
    relevance_weight: float = 1.0
    tag_weight: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags))
        for name in ("word_dim", "char_dim", "char_filters", "char_kernel", "max_word_len", "lstm_units"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.ngram_buckets < 0 or self.ngram_buckets == 1:
            raise ValueError(f"ngram_buckets must be 0 (off) or >= 2, got {self.ngram_buckets!r}")
        if self.relevance_hidden < 0:
            raise ValueError(f"relevance_hidden must be >= 0, got {self.relevance_hidden!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.char_kernel > self.max_word_len:
            raise ValueError(
                f"char_kernel ({self.char_kernel}) must not exceed max_word_len ({self.max_word_len})"
            )
        if self.relevance_weight < 0 or self.tag_weight < 0 or self.relevance_weight + self.tag_weight == 0:
            raise ValueError(
                f"loss weights must be >= 0 and not both 0, got relevance_weight={self.relevance_weight!r} "
                f"and tag_weight={self.tag_weight!r}"
            )
        if not self.tags or self.tags[0] != "O":
            raise ValueError(f"tags must start with 'O', got {self.tags!r}")


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained: data selection, optimisation, early stopping and embeddings."""

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 2e-3
    clip_norm: float = 5.0
    patience: int = 4
    seed: int = 13
    val_fraction: float = 0.1
    max_vocab: int = 20000
    min_count: int = 1
    word_dropout: float = 0.05
    embeddings: str = "word2vec"
    embedding_epochs: int = 10
    case: str | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_vocab", "min_count", "embedding_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience!r}")
        if not 0.0 < self.val_fraction < 0.9:
            raise ValueError(f"val_fraction must be in (0, 0.9), got {self.val_fraction!r}")
        if not 0.0 <= self.word_dropout < 0.5:
            raise ValueError(f"word_dropout must be in [0, 0.5), got {self.word_dropout!r}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")


def to_json(config: Any) -> dict[str, Any]:
    """Returns a JSON-ready dict of a config dataclass (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def from_json(cls: type, data: dict[str, Any]) -> Any:
    """Builds a config dataclass from `to_json` output; unknown keys are an error naming them."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
    return cls(**data)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Writes `data` as indented JSON."""
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: Path) -> dict[str, Any]:
    """Reads a JSON object written by `write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


__all__ = ["ModelConfig", "TrainConfig", "EMBEDDING_SOURCES", "to_json", "from_json", "write_json", "read_json"]
