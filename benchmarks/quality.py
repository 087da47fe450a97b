"""Quality benchmark: our joint and per-case models, ablations and the classic baselines, side by side.

Everything is trained and scored in one run on one three-way split of the training file, so no number is selected
on the data it is reported on:

* train (80 %): fits every model;
* dev (10 %): early stopping and the relevance threshold of our models (the baselines tune on train folds);
* test (10 %): the reported scores, with the competition scoring (`tweetner.metrics.competition_scores`).

Both splits keep identical texts on one side and are stratified (`tweetner.split.split_train_val`).

    python -m benchmarks.quality [--data PATH] [--seeds 13 14 15] [--variants joint per-case baselines ...]
                                 [--json OUT]

Variants (model-config or train-config fields, never separate code): `joint` and `per-case` (the default
configuration), `baselines`, `wide` (hashed word and bigram weights added to the relevance head, now the default),
`no-wide` and `per-case-no-wide` (without them), and ablations of `no-wide`: `no-chars`, `softmax` (no CRF),
`relevance-only`, `tags-only`, `random-emb`, `fasttext`, `large` (BiLSTM 100, char CNN 50 filters x 30-d
characters, against the default 64 and 30 x 16).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from benchmarks.baselines import DEFAULT_DATA

VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name: (ModelConfig overrides, TrainConfig overrides). The ablations switch one thing off the joint model
    # without the n-gram part ("no-wide"), the configuration they were first measured against.
    "joint": ({}, {}),
    "wide": ({"ngram_buckets": 2 ** 18}, {}),
    "no-wide": ({"ngram_buckets": 0}, {}),
    "no-chars": ({"ngram_buckets": 0, "use_chars": False}, {}),
    "softmax": ({"ngram_buckets": 0, "use_crf": False}, {}),
    "relevance-only": ({"ngram_buckets": 0, "tag_weight": 0.0}, {}),
    "tags-only": ({"ngram_buckets": 0, "relevance_weight": 0.0}, {}),
    "random-emb": ({"ngram_buckets": 0}, {"embeddings": "random"}),
    "fasttext": ({"ngram_buckets": 0}, {"embeddings": "fasttext"}),
    "large": ({"ngram_buckets": 0, "lstm_units": 100, "char_filters": 50, "char_dim": 30}, {}),
}
PER_CASE = {"per-case": {}, "per-case-no-wide": {"ngram_buckets": 0}}
ALL = ["joint", *PER_CASE, "baselines", *[v for v in VARIANTS if v != "joint"]]


def three_way_split(examples, seed: int = 13):
    """(train, dev, test): 80/10/10, grouped by text and stratified, seeded."""
    from tweetner.split import split_train_val

    rest, test = split_train_val(examples, 0.1, seed)
    train, dev = split_train_val(rest, 1 / 9, seed)
    return train, dev, test


def _predict(trainer, examples) -> tuple[list[int], list[list[str]]]:
    """Labels and tags of the exact pipeline that would be exported."""
    import tensorflow as tf

    pipeline = trainer.pipeline()
    labels: list[int] = []
    tags: list[list[str]] = []
    for i in range(0, len(examples), 512):
        out = pipeline.serve(tf.constant([e.text for e in examples[i: i + 512]], tf.string))
        n = out["lengths"].numpy()
        labels += out["relevant"].numpy().tolist()
        tags += [[t.decode() for t in row[:k]] for row, k in zip(out["tags"].numpy(), n)]
    return labels, tags


def _train(train, dev, mcfg, tcfg):
    from tweetner.trainer import Trainer

    start = time.perf_counter()
    trainer = Trainer(train, dev, mcfg, tcfg, log=lambda *a: None)
    result = trainer.fit()
    return trainer, {"train_s": time.perf_counter() - start, "epochs": len(result["history"]),
                     "best_epoch": max(result["history"], key=lambda h: h["val_selection"])["epoch"]}


def run_variant(name: str, split, seed: int) -> dict[str, Any]:
    """Trains one variant with one seed and scores it on the test split."""
    from tweetner import data, metrics
    from tweetner.config import ModelConfig, TrainConfig

    train, dev, test = split
    if name == "baselines":
        from benchmarks.baselines import run_baselines

        r = run_baselines(train, test, seed=seed)
        return {"scores": r["scores"], "timing": r["timing"]}
    if name in PER_CASE:
        studies, timing = {}, {"train_s": 0.0}
        for case in data.CASES:
            tr, dv, te = (data.select_case(s, case) for s in split)
            trainer, t = _train(tr, dv, ModelConfig(**PER_CASE[name]), TrainConfig(seed=seed, case=case))
            labels, tags = _predict(trainer, te)
            studies[case] = metrics.competition_scores(te, labels, tags, cases=[case])
            timing["train_s"] += t["train_s"]
            timing[f"epochs_{case}"] = t["epochs"]
        return {"scores": _merge_studies(studies), "timing": timing}
    m, t = VARIANTS[name]
    trainer, timing = _train(train, dev, ModelConfig(**m), replace(TrainConfig(seed=seed), **t))
    labels, tags = _predict(trainer, test)
    return {"scores": metrics.competition_scores(test, labels, tags), "timing": timing}


def _merge_studies(studies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-case models: each case study scored by its own model, then averaged like competition_scores does."""
    from tweetner.metrics import _average

    merged = {name: s["studies"][name] for name, s in studies.items()}
    average = _average(list(merged.values()))
    rel, ent = average["relevance"]["f1"], average["ner"]["headline"]["entity"]["micro"]["f1"]
    return {"case_studies": list(merged), "studies": merged, "average": average,
            "tie_break": {"relevance_f1": rel, "entity_f1": ent,
                          "distance": ((1 - rel) ** 2 + (1 - ent) ** 2) ** 0.5}}


def headline(scores: dict[str, Any]) -> dict[str, float]:
    """The numbers of one table row."""
    a = scores["average"]
    ent = a["ner"]["headline"]["entity"]
    row = {"rel_tpr": a["relevance"]["tpr"], "rel_tnr": a["relevance"]["tnr"], "rel_f1": a["relevance"]["f1"],
           "ent_micro": ent["micro"]["f1"], "ent_macro": ent["macro"]["f1"],
           "pipe_ent_micro": a["ner"]["pipeline"]["entity"]["micro"]["f1"],
           "tok_micro": a["ner"]["headline"]["token"]["micro"]["f1"]}
    for t, v in ent["per_type"].items():
        row[f"ent_{t}"] = v["f1"]
    for name, s in scores["studies"].items():
        row[f"rel_f1_{name}"] = s["relevance"]["f1"]
        row[f"ent_micro_{name}"] = s["ner"]["headline"]["entity"]["micro"]["f1"]
    return row


COLUMNS = [("rel_tpr", "TPR"), ("rel_tnr", "TNR"), ("rel_f1", "rel F1"), ("ent_micro", "ent F1"),
           ("ent_macro", "ent macro"), ("ent_VUL", "VUL"), ("ent_PRO", "PRO"), ("ent_ORG", "ORG"),
           ("ent_VER", "VER"), ("ent_ID", "ID"), ("pipe_ent_micro", "pipeline ent"), ("tok_micro", "token F1")]


def format_rows(results: dict[str, list[dict[str, Any]]]) -> str:
    """A markdown table: mean (and ± standard deviation over seeds when there are several)."""
    head = "| model | seeds | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [head, "|" + " --- |" * (len(COLUMNS) + 2)]
    for name, runs in results.items():
        rows = [headline(r["scores"]) for r in runs]
        cells = []
        for key, _ in COLUMNS:
            values = [row.get(key, float("nan")) for row in rows]
            mean = statistics.fmean(values)
            cells.append(f"{mean:.4f}" + (f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""))
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_cases(results: dict[str, list[dict[str, Any]]]) -> str:
    """Per case study relevance F1 and entity micro F1 (means over seeds)."""
    lines = ["| model | rel F1 A | rel F1 B | rel F1 C | ent F1 A | ent F1 B | ent F1 C |", "|" + " --- |" * 7]
    for name, runs in results.items():
        rows = [headline(r["scores"]) for r in runs]
        cells = [f"{statistics.fmean(row.get(f'{k}_{c}', float('nan')) for row in rows):.4f}"
                 for k in ("rel_f1", "ent_micro") for c in "ABC"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="competition training CSV")
    p.add_argument("--seeds", type=int, nargs="+", default=[13], help="model seeds (the split seed stays 13)")
    p.add_argument("--variants", nargs="+", default=["joint", "per-case", "baselines"], choices=ALL)
    p.add_argument("--single-seed", nargs="*", default=[], choices=ALL,
                   help="variants run with the first seed only (ablations), whatever --seeds says")
    p.add_argument("--json", type=Path, help="write every score here")
    args = p.parse_args(argv)

    from tweetner import data

    try:
        examples, _ = data.load_csv(args.data, repair_iob=True)
    except (data.DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    split = three_way_split(examples)
    print(f"{args.data}: train {len(split[0])}, dev {len(split[1])}, test {len(split[2])} tweets", file=sys.stderr)
    results: dict[str, list[dict[str, Any]]] = {}
    for name in [*args.variants, *[v for v in args.single_seed if v not in args.variants]]:
        seeds = args.seeds[:1] if name in args.single_seed or name == "baselines" else args.seeds
        for seed in seeds:
            start = time.perf_counter()
            r = run_variant(name, split, seed)
            r["seed"] = seed
            results.setdefault(name, []).append(r)
            h = headline(r["scores"])
            print(f"{name} seed {seed}: rel F1 {h['rel_f1']:.4f} ent F1 {h['ent_micro']:.4f} "
                  f"VUL {h.get('ent_VUL', float('nan')):.4f} ({time.perf_counter() - start:.0f}s)",
                  file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))
    print("Test split (10 %), averaged over case studies A, B, C; entity = conlleval spans, token = words.\n")
    print(format_rows(results))
    print()
    print(format_cases(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
