"""Vocabularies (words, characters, tags) saved as plain text, one token per line.

Reserved ids are fixed: 0 is padding (the empty string) and 1 is unknown ("[UNK]"), for words and characters alike.
Tags have no reserved ids: tag 0 is "O". No pickle anywhere.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

PAD = ""
UNK = "[UNK]"
RESERVED = (PAD, UNK)
# Every character a cleaned tweet can hold (see tweetner.text): the character vocabulary is fixed.
CHARS = tuple("abcdefghijklmnopqrstuvwxyz0123456789.-:_")


def build_word_vocab(token_lists: Iterable[Sequence[str]], max_size: int, min_count: int = 1) -> list[str]:
    """Builds a capped word vocabulary, most frequent first (ties alphabetical, so it is deterministic).

    Args:
        token_lists: tokenised tweets.
        max_size: the most entries, reserved ones included (the vocabulary is stored in the model).
        min_count: words seen fewer times are left out (they map to [UNK]).

    Returns:
        The word list; index = id, starting with the reserved entries.
    """
    if max_size <= len(RESERVED):
        raise ValueError(f"max_size must be > {len(RESERVED)}, got {max_size}")
    counts = Counter(t for tokens in token_lists for t in tokens)
    ranked = sorted((w for w, c in counts.items() if c >= min_count and w not in RESERVED), key=lambda w: (-counts[w], w))
    return list(RESERVED) + ranked[: max_size - len(RESERVED)]


def char_vocab() -> list[str]:
    """The fixed character vocabulary, reserved entries first."""
    return list(RESERVED) + list(CHARS)


def save_vocab(path: Path, tokens: Sequence[str]) -> None:
    """Writes one token per line (the padding entry is an empty first line)."""
    for t in tokens:
        if "\n" in t or "\r" in t:
            raise ValueError(f"vocabulary entry {t!r} holds a line break")
    Path(path).write_text("".join(t + "\n" for t in tokens), encoding="utf-8")


def load_vocab(path: Path) -> list[str]:
    """Reads a vocabulary written by `save_vocab`."""
    text = Path(path).read_text(encoding="utf-8")
    if not text.endswith("\n"):
        raise ValueError(f"{path}: truncated vocabulary file (no final newline)")
    return text[:-1].split("\n")
