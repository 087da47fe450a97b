"""Validation split: stratified, seeded, and identical texts always on one side."""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence

from tweetner.data import Example


def split_train_val(examples: Sequence[Example], val_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Splits examples into train and validation sets.

    Texts are grouped so every copy of a repeated text lands on the same side (otherwise validation would score
    memorised tweets). Groups are stratified by (label of their first copy, case-study flags), and each stratum
    gives round(val_fraction * size) groups to validation, chosen with `random.Random(seed)`.

    Returns:
        (train, val), each in the original file order.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[ex.text.strip()].append(i)
    strata: dict[tuple, list[str]] = defaultdict(list)
    for key, idx in groups.items():  # dict order = first occurrence order, so this is deterministic
        first = examples[idx[0]]
        strata[(first.relevant, tuple(first.cases))].append(key)
    rng = random.Random(seed)
    val_keys: set[str] = set()
    for stratum in sorted(strata):
        keys = strata[stratum]
        rng.shuffle(keys)
        val_keys.update(keys[: round(val_fraction * len(keys))])
    train = [ex for ex in examples if ex.text.strip() not in val_keys]
    val = [ex for ex in examples if ex.text.strip() in val_keys]
    return train, val
