"""Tests for benchmarks/baselines.py: features, threshold choice, the two baselines and the command line."""
from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import baselines
from benchmarks.baselines import (
    CRFTagger,
    RelevanceBaseline,
    best_threshold,
    short_shape,
    token_features,
    tpr_tnr_f1,
    word_shape,
)
from tweetner.data import Example
from tweetner.metrics import competition_scores, relevance_scores

# Tweets written for these tests, in the cleaned form. Relevant ones are annotated inline: "word/TAG" carries a
# tag, a bare word is O. Every relevant tweet names a CVE identifier, so the tagger has a trivial pattern to learn.
RELEVANT = [
    ("A", "microsoft/B-ORG patches/O windows/B-PRO 10/B-VER flaw cve-2018-1001/B-ID"),
    ("A", "adobe/B-ORG fixes reader/B-PRO 11.0.3/B-VER overflow/B-VUL tracked as cve-2019-2002/B-ID"),
    ("A", "cve-2017-3003/B-ID remote/B-VUL code/I-VUL execution/I-VUL in apache/B-ORG struts/B-PRO"),
    ("A", "critical patch for oracle/B-ORG java/B-PRO 8/B-VER fixes cve-2016-4004/B-ID"),
    ("A", "new exploit for cve-2018-5005/B-ID hits cisco/B-ORG routers/B-PRO"),
    ("B", "google/B-ORG chrome/B-PRO 72.0.1/B-VER patches cve-2019-6006/B-ID use/B-VUL after/I-VUL free/I-VUL"),
    ("B", "vulnerability cve-2015-7007/B-ID lets attackers crash openssl/B-PRO 1.0.2/B-VER servers"),
    ("B", "security update for mozilla/B-ORG firefox/B-PRO addresses cve-2018-8008/B-ID"),
    ("B", "researchers publish exploit for cve-2017-9009/B-ID in wordpress/B-PRO plugin"),
    ("B", "cve-2019-1010/B-ID privilege/B-VUL escalation/I-VUL bug in linux/B-PRO kernel/I-PRO 4.19/B-VER"),
    ("C", "patch now cve-2018-1111/B-ID affects vmware/B-ORG esxi/B-PRO 6.5/B-VER hosts"),
    ("C", "attackers exploit cve-2016-1212/B-ID sql/B-VUL injection/I-VUL in drupal/B-PRO sites"),
    ("C", "apple/B-ORG releases ios/B-PRO 12.1/B-VER to fix cve-2018-1313/B-ID"),
    ("C", "unpatched cve-2019-1414/B-ID hits samba/B-PRO servers warns vendor"),
    ("C", "denial/B-VUL of/I-VUL service/I-VUL flaw cve-2017-1515/B-ID in nginx/B-PRO 1.13/B-VER"),
    ("C", "vendor ships fix for cve-2018-1616/B-ID in jenkins/B-PRO server"),
]
IRRELEVANT = [
    ("A", "great pasta recipe with fresh tomatoes and basil tonight"),
    ("A", "the football match ended with a late goal for the home side"),
    ("A", "sunny weather expected all weekend along the coast"),
    ("A", "my cat sleeps on the sofa every afternoon"),
    ("A", "bake the bread for forty minutes until golden"),
    ("B", "the team won the cup after extra time"),
    ("B", "heavy rain and wind forecast for the morning"),
    ("B", "we planted tulips and roses in the garden"),
    ("B", "the concert tickets sold out in one hour"),
    ("B", "a quiet walk by the river at sunset"),
    ("C", "the striker scored twice in the second half"),
    ("C", "soup with lentils carrots and a little cumin"),
    ("C", "snow closed the mountain road for two days"),
    ("C", "the museum opens a new painting exhibition"),
    ("C", "our dog loves chasing the ball in the park"),
    ("C", "fresh strawberries and cream for dessert"),
]


def _parse(annotated: str) -> tuple[str, tuple[str, ...]]:
    """'word/TAG other' -> ('word other', ('TAG', 'O'))."""
    words, tags = [], []
    for item in annotated.split():
        word, _, tag = item.partition("/")
        words.append(word)
        tags.append(tag or "O")
    return " ".join(words), tuple(tags)


def _examples() -> list[Example]:
    examples = []
    line = 2
    for case, annotated in RELEVANT:
        text, tags = _parse(annotated)
        examples.append(Example(text, 1, tags, (case,), line))
        line += 1
    for case, text in IRRELEVANT:
        examples.append(Example(text, 0, None, (case,), line))
        line += 1
    return examples


def _write_csv(path, examples) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["clean_tweet", "relevant", "entities", "A", "B", "C"])
        for ex in examples:
            flags = [int(c in ex.cases) for c in "ABC"]
            writer.writerow([ex.text, ex.relevant, " ".join(ex.tags) if ex.tags else "", *flags])


# ---------------------------------------------------------------------------
# Features


def test_features_of_a_cve_identifier():
    tokens = "patch now cve-2018-1111 affects vmware".split()
    f = token_features(tokens, 2)
    assert f["lower"] == "cve-2018-1111"
    assert f["cve_prefix"] and f["cve_id"] and f["has_hyphen"] and f["has_digit"]
    assert not f["has_dot"] and not f["version"] and not f["is_digit"] and not f["all_alpha"]
    assert f["shape"] == "aaa-0000-0000"
    assert f["short_shape"] == "a-0-0"
    assert f["prefix4"] == "cve-" and f["suffix4"] == "1111" and f["prefix1"] == "c"
    assert f["position"] == pytest.approx(0.5)
    assert not f["first"] and not f["last"]
    # Neighbours at -2..+2 are all inside the tweet: their words are features, no boundary marks.
    assert (f["-2:lower"], f["-1:lower"], f["+1:lower"], f["+2:lower"]) == ("patch", "now", "affects", "vmware")
    assert not any(key.endswith(("BOS", "EOS")) for key in f)
    assert f["-1:0:bigram"] == "now|cve-2018-1111" and f["0:+1:bigram"] == "cve-2018-1111|affects"


def test_features_of_a_version_at_the_end_mark_the_missing_neighbours():
    tokens = "openssl 1.0.2".split()
    f = token_features(tokens, 1)
    assert f["version"] and f["has_dot"] and not f["cve_prefix"]
    assert f["short_shape"] == "0.0.0"
    assert f["last"] and f["position"] == 1.0
    assert f["-1:lower"] == "openssl" and f["+1:EOS"] and f["+2:EOS"] and f["-2:BOS"]
    assert "+1:lower" not in f and "0:+1:bigram" not in f
    first = token_features(tokens, 0)
    assert first["first"] and first["-1:BOS"] and first["+1:version"] and not first["version"]


def test_single_word_tweet_has_position_zero_and_both_boundaries():
    f = token_features(["exploit"], 0)
    assert f["first"] and f["last"] and f["position"] == 0.0
    assert f["-1:BOS"] and f["+1:EOS"] and f["all_alpha"]


@pytest.mark.parametrize("word", ["2.1.142", "v10.3", "7.0-rc1", "sp1", "11.0.3", "r2"])
def test_version_regex_accepts_version_like_words(word):
    assert token_features([word], 0)["version"]


@pytest.mark.parametrize("word", ["2019", "windows", "cve-2018-1111", "1.", "v", "sql"])
def test_version_regex_rejects_other_words(word):
    assert not token_features([word], 0)["version"]


def test_shapes():
    assert word_shape("ios12.1") == "aaa00.0"
    assert short_shape("ios12.1") == "a0.0"
    assert short_shape("a_b") == "a_a"


# ---------------------------------------------------------------------------
# Threshold


def _brute_force_best(labels, scores) -> float:
    return max(tpr_tnr_f1(labels, [int(s >= t) for s in scores]) for t in sorted(set(scores)))


@pytest.mark.parametrize("seed", range(8))
def test_best_threshold_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 40))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]  # both classes present
    # Rounded scores make ties, which the cumulative counting must handle like the brute force does.
    scores = np.round(rng.normal(size=n) + labels * rng.uniform(0, 2), 1)
    threshold, f1 = best_threshold(labels, scores)
    assert f1 == pytest.approx(_brute_force_best(labels.tolist(), scores.tolist()))
    # The threshold itself reaches the reported F1.
    assert tpr_tnr_f1(labels, scores >= threshold) == pytest.approx(f1)


def test_best_threshold_splits_separable_scores_halfway():
    threshold, f1 = best_threshold([0, 0, 1, 1], [0.1, 0.3, 0.7, 0.9])
    assert f1 == 1.0 and threshold == pytest.approx(0.5)


def test_best_threshold_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        best_threshold([1, 1], [0.2, 0.4])
    with pytest.raises(ValueError, match="same length"):
        best_threshold([0, 1], [0.2])


def test_tpr_tnr_f1_agrees_with_the_project_metric():
    gold = [1, 1, 1, 0, 0, 0, 0, 1]
    for pred in itertools.islice(itertools.product([0, 1], repeat=8), 0, 256, 17):
        assert tpr_tnr_f1(gold, pred) == pytest.approx(relevance_scores(gold, list(pred))["f1"])


# ---------------------------------------------------------------------------
# Baselines


def test_crf_learns_that_cve_words_are_ids():
    pytest.importorskip("sklearn_crfsuite")
    tagged = [ex for ex in _examples() if ex.relevant]
    tagger = CRFTagger(max_iterations=50).fit([ex.tokens for ex in tagged], [ex.tags for ex in tagged])
    # Unseen identifiers, in unseen sentences.
    tests = ["admins should patch cve-2020-4242 today", "cve-2021-9999 is bad", "", "a quiet walk by the river"]
    predicted = tagger.predict([t.split() for t in tests])
    assert predicted[0] == ["O", "O", "O", "B-ID", "O"]
    assert predicted[1][0] == "B-ID" and predicted[1][1:] == ["O", "O"]
    assert predicted[2] == []
    # Without a cve- word nothing is an identifier (other types may be guessed: 16 tweets teach little else).
    assert len(predicted[3]) == 6 and not any(tag.endswith("-ID") for tag in predicted[3])


def test_crf_rejects_bad_input():
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        CRFTagger().fit([["a", "b"]], [["O"]])
    with pytest.raises(ValueError, match="no tagged tweet"):
        CRFTagger().fit([[]], [[]])
    with pytest.raises(RuntimeError, match="before fit"):
        CRFTagger().predict([["a"]])


def test_relevance_baseline_separates_two_obvious_classes():
    examples = _examples()
    model = RelevanceBaseline(c_values=(1.0, 4.0), folds=3, seed=0).fit(
        [ex.text for ex in examples], [ex.relevant for ex in examples]
    )
    assert model.c_ in (1.0, 4.0) and np.isfinite(model.threshold_)
    assert [row["C"] for row in model.cv_table_] == [1.0, 4.0]
    assert model.cv_f1_ >= 0.8  # out-of-fold, on tweets the fold model never saw
    new = [
        "hackers exploit cve-2020-1234 in the vpn server patch now",
        "security update fixes remote code execution vulnerability",
        "rain and snow expected in the mountains this weekend",
        "the home side scored a late goal in the match",
    ]
    assert model.predict(new).tolist() == [1, 1, 0, 0]
    margins = model.decision_function(new)
    assert margins.shape == (4,) and margins[0] > margins[2]


def test_relevance_baseline_needs_enough_texts_per_class():
    with pytest.raises(ValueError, match="class 1 has 2 distinct texts"):
        RelevanceBaseline(folds=3).fit(["a b", "a b", "c d", "e f", "g h", "i j"], [1, 1, 1, 0, 0, 0])
    with pytest.raises(ValueError, match="folds"):
        RelevanceBaseline(folds=1)


def test_run_baselines_scores_the_validation_tweets():
    pytest.importorskip("sklearn_crfsuite")
    examples = _examples()
    val = examples[::4]  # 4 relevant and 4 irrelevant tweets, across the case studies
    train = [ex for i, ex in enumerate(examples) if i % 4]
    result = baselines.run_baselines(
        train, val, relevance=RelevanceBaseline(c_values=(1.0,), folds=3), tagger=CRFTagger(max_iterations=50)
    )
    labels, tags = result["predictions"]["labels"], result["predictions"]["tags"]
    assert len(labels) == len(val) and [len(t) for t in tags] == [len(ex.tokens) for ex in val]
    assert result["n_train"] == len(train) and result["n_train_tagged"] == sum(ex.relevant for ex in train)
    # The scores are exactly the project's scoring of the returned predictions.
    assert result["scores"] == competition_scores(val, labels, tags)
    assert result["scores"]["case_studies"] == ["A", "B", "C"]
    # Every validation identifier is a cve- word: the tagger gets them all.
    id_scores = result["scores"]["average"]["ner"]["headline"]["entity"]["per_type"]["ID"]
    assert id_scores["recall"] == 1.0
    assert result["scores"]["average"]["relevance"]["f1"] > 0.5
    timing = result["timing"]
    assert timing["train_s"] == pytest.approx(timing["relevance_train_s"] + timing["tagger_train_s"])
    assert all(np.isfinite(v) and v > 0 for v in timing.values())
    assert "average" in result["table"] and "Relevance" in result["table"]
    json.dumps(result)  # the command writes it as JSON


# ---------------------------------------------------------------------------
# Command line


def test_main_prints_table_and_writes_json(tmp_path, capsys, monkeypatch):
    pytest.importorskip("sklearn_crfsuite")
    data = tmp_path / "bench_tiny.csv"
    _write_csv(data, _examples())
    # The default C grid and 150 CRF iterations are sized for the real file; keep the test quick.
    monkeypatch.setattr(baselines, "RelevanceBaseline", lambda seed: RelevanceBaseline(c_values=(1.0,), seed=seed))
    monkeypatch.setattr(baselines, "CRFTagger", lambda: CRFTagger(max_iterations=30))
    out = tmp_path / "result.json"
    assert baselines.main(["--data", str(data), "--val-fraction", "0.25", "--seed", "3", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Relevance (F1 = 2*TPR*TNR/(TPR+TNR))" in printed and "Timing: train" in printed
    saved = json.loads(out.read_text())
    assert saved["n_train"] + saved["n_val"] == len(RELEVANT) + len(IRRELEVANT)
    assert saved["table"] in printed


def test_main_reports_bad_input_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("clean_tweet,relevant,entities,A,B,C\nsome words here,2,,1,0,0\n", encoding="utf-8")
    assert baselines.main(["--data", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{bad}:2:") and "label" in err[0]

    missing = tmp_path / "absent.csv"
    assert baselines.main(["--data", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0]


def test_main_rejects_a_fraction_outside_zero_one(capsys):
    with pytest.raises(SystemExit) as exit_info:
        baselines.main(["--val-fraction", "1.5"])
    assert exit_info.value.code == 2
    assert "strictly between 0 and 1" in capsys.readouterr().err


def test_help_explains_the_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        baselines.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--val-fraction" in text and "logistic regression" in text and "CRF" in text


def test_import_does_not_load_tensorflow_or_crfsuite():
    code = (
        "import sys, benchmarks.baselines; "
        "print(any(m.split('.')[0] in ('tensorflow', 'sklearn_crfsuite', 'pycrfsuite') for m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------------------
# Real data


@pytest.mark.slow
def test_baselines_on_the_real_file(train_csv, tmp_path, capsys):
    pytest.importorskip("sklearn_crfsuite")
    out = tmp_path / "baselines.json"
    assert baselines.main(["--data", str(train_csv), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["scores"]["case_studies"] == ["A", "B", "C"]
    # Seeded run measured at relevance F1 0.947 and entity F1 0.971 (cross-validated 0.948); the floors leave room
    # for library versions, and a broken feature or threshold falls well below them.
    assert result["scores"]["average"]["relevance"]["f1"] > 0.9
    assert result["scores"]["tie_break"]["entity_f1"] > 0.9
    assert result["relevance"]["cv_f1"] > 0.9
    assert "Timing" in capsys.readouterr().out
