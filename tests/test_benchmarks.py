"""Benchmark helpers: the three-way split never leaks, tables render, the arithmetic bound is sane."""
from __future__ import annotations

import math

from benchmarks.quality import COLUMNS, format_cases, format_rows, three_way_split
from benchmarks.speed import cpu_peak_gflops, flops_per_tweet
from tweetner import metrics
from tweetner.config import ModelConfig, TrainConfig, to_json
from tweetner.data import load_csv, sample_path


def test_three_way_split_is_disjoint_by_text_and_covers_everything():
    examples, _ = load_csv(sample_path())
    train, dev, test = three_way_split(examples)
    texts = [{e.text for e in part} for part in (train, dev, test)]
    assert not texts[0] & texts[1] and not texts[0] & texts[2] and not texts[1] & texts[2]
    assert len(train) + len(dev) + len(test) == len(examples)
    assert 0.05 < len(test) / len(examples) < 0.15 and 0.05 < len(dev) / len(examples) < 0.15


def test_tables_show_mean_and_spread_over_seeds():
    examples, _ = load_csv(sample_path())
    perfect = metrics.competition_scores(examples, [e.relevant for e in examples],
                                         [e.tags if e.tags else None for e in examples])
    none = metrics.competition_scores(examples, [0] * len(examples), [None] * len(examples))
    table = format_rows({"m": [{"scores": perfect}, {"scores": none}]})
    row = table.splitlines()[2]
    assert row.startswith("| m | 2 | ") and "0.5000 ± 0.7071" in row  # rel F1: mean of 1 and 0, stdev
    assert len(row.split("|")) == len(COLUMNS) + 4
    cases = format_cases({"m": [{"scores": perfect}]})
    assert cases.splitlines()[2] == "| m | " + " | ".join(["1.0000"] * 6) + " |"


def test_flops_grow_with_length_and_the_peak_is_positive():
    config = {"model": to_json(ModelConfig()), "train": to_json(TrainConfig())}
    short, long = flops_per_tweet(config, 5, 8), flops_per_tweet(config, 20, 8)
    assert 3.5 < long / short < 4.1
    no_chars = {"model": {**config["model"], "use_chars": False}}
    assert flops_per_tweet(no_chars, 12, 10) < flops_per_tweet(config, 12, 10)
    cpu = cpu_peak_gflops()
    assert cpu["peak_gflops"] > 0 and math.isfinite(cpu["peak_gflops"])
