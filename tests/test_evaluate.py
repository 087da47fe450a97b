"""Tests for the scoring CLI, python -m tweetner.evaluate (run as a subprocess, as users run it)."""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tweetner.evaluate import PredictionError, parse_prediction_line, read_predictions

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Six tweets written for these tests, flagged A and/or B; the predictions are scored by hand below.
GOLD = FIXTURES / "eval_gold.csv"
PRED = FIXTURES / "eval_pred.tsv"


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tweetner.evaluate", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""


# ---------------------------------------------------------------------------
# Prediction lines


@pytest.mark.parametrize(
    "line, expected",
    [
        ("0", (0, None)),
        ("0\t", (0, None)),
        ("1\tB-ORG I-ORG O", (1, ("B-ORG", "I-ORG", "O"))),
        ("0\tO B-VUL", (0, ("O", "B-VUL"))),
        ("1", (1, ())),  # label 1 needs tags: empty tags are scored as misaligned, not as "none given"
        ("1\tO  B-ID ", (1, ("O", "B-ID"))),
    ],
)
def test_parse_prediction_line(line, expected):
    assert parse_prediction_line(line) == expected


@pytest.mark.parametrize(
    "line, message",
    [
        ("", "empty line"),
        ("2\tO", "label '2'"),
        ("1 B-ORG O", "label '1 B-ORG O'"),  # spaces instead of a TAB
        ("yes\tO", "label 'yes'"),
        ("1\tO B-FOO", "unknown tag 'B-FOO' (word 2)"),
        ("1\tb-org", "unknown tag 'b-org' (word 1)"),
    ],
)
def test_parse_prediction_line_rejects_bad_lines(line, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_prediction_line(line)


def test_read_predictions_tolerates_crlf_bom_and_missing_final_newline(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_bytes(b"\xef\xbb\xbf1\tB-ORG O\r\n0\r\n0\tO")
    assert read_predictions(path, expected=3) == ([1, 0, 0], [("B-ORG", "O"), None, ("O",)])


def test_read_predictions_names_the_line(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("1\tO\n0\n1\tI-XYZ\n")
    with pytest.raises(PredictionError) as info:
        read_predictions(path)
    assert (info.value.line, info.value.path) == (3, str(path))
    assert str(info.value).startswith(f"{path}:3: unknown tag 'I-XYZ'")


def test_read_predictions_reports_non_utf8_line(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_bytes(b"0\n1\tO \xff\n")
    with pytest.raises(PredictionError, match=r":2: not UTF-8"):
        read_predictions(path)


# ---------------------------------------------------------------------------
# CLI on the hand-made fixture


def test_cli_json_matches_hand_computed_scores():
    result = run_cli(GOLD, PRED, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    scores = json.loads(result.stdout)
    assert scores["case_studies"] == ["A", "B"]
    # A = rows 1, 2, 3, 6: gold 1 0 1 0, pred 1 1 1 0 -> TPR 1, TNR 1/2, F1 2/3.
    # B = rows 2, 3, 4, 5: gold 0 1 0 1, pred 1 1 0 0 -> TPR 1/2, TNR 1/2, F1 1/2.
    assert scores["studies"]["A"]["relevance"]["f1"] == pytest.approx(2 / 3)
    assert scores["studies"]["B"]["relevance"]["f1"] == pytest.approx(1 / 2)
    assert scores["average"]["relevance"]["f1"] == pytest.approx(7 / 12)
    # Headline NER: 3 of the 4 gold chunks found in each study, no false chunk -> F1 6/7.
    # Pipeline B: row 5 is predicted 0 and becomes all O -> 2 of 4 -> F1 2/3.
    assert scores["average"]["ner"]["headline"]["entity"]["micro"]["f1"] == pytest.approx(6 / 7)
    assert scores["studies"]["B"]["ner"]["pipeline"]["entity"]["micro"]["f1"] == pytest.approx(2 / 3)
    assert scores["tie_break"]["distance"] == pytest.approx(math.hypot(5 / 12, 1 / 7))
    assert scores["misaligned"] == 0


def test_cli_table_output():
    result = run_cli(GOLD, PRED)
    assert result.returncode == 0, result.stderr
    assert "Relevance" in result.stdout
    assert "Entity-level NER F1" in result.stdout and "Token-level NER F1" in result.stdout
    average_rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("average")]
    assert average_rows[0][-1] == "0.5833"  # relevance F1 averaged over A and B (7/12)
    assert len(average_rows) == 5  # relevance + entity/token x headline/pipeline


def test_cli_help_explains_the_format():
    result = run_cli("--help")
    assert result.returncode == 0
    for words in ("TAB", "headline", "pipeline", "TPR", "--json"):
        assert words in result.stdout


def test_cli_crlf_and_no_final_newline_give_the_same_scores(tmp_path):
    crlf = tmp_path / "crlf.tsv"
    crlf.write_bytes(PRED.read_bytes().replace(b"\n", b"\r\n").rstrip(b"\r\n"))
    expected = json.loads(run_cli(GOLD, PRED, "--json").stdout)
    result = run_cli(GOLD, crlf, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


def test_cli_warns_about_misaligned_lines_and_still_scores(tmp_path):
    lines = PRED.read_text().splitlines()
    lines[0] = "1\tB-ORG O"  # 2 tags for 5 words
    lines[1] = "1"  # predicted 1 without tags
    path = tmp_path / "short.tsv"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli(GOLD, path, "--json")
    assert result.returncode == 0
    assert result.stderr.strip() == (
        f"warning: {path}: 2 lines have a tag count different from their tweet's word count "
        "(first: line 1); they were padded with O or truncated"
    )
    scores = json.loads(result.stdout)
    assert scores["misaligned"] == 2
    # The ORG on the first word survives the padding, so the NER scores do not move.
    assert scores["average"]["ner"]["headline"]["entity"]["micro"]["f1"] == pytest.approx(6 / 7)


# ---------------------------------------------------------------------------
# CLI errors: one line on stderr naming the file (and line), exit status 2


def test_cli_missing_gold_file(tmp_path):
    missing = tmp_path / "nope.csv"
    assert_one_line_error(run_cli(missing, PRED), str(missing), "no such file")


def test_cli_missing_prediction_file(tmp_path):
    missing = tmp_path / "nope.tsv"
    assert_one_line_error(run_cli(GOLD, missing), str(missing), "no such file")


def test_cli_too_few_prediction_lines(tmp_path):
    path = tmp_path / "few.tsv"
    path.write_text("".join(PRED.read_text().splitlines(keepends=True)[:4]))
    assert_one_line_error(run_cli(GOLD, path), f"{path}:5:", "4 lines", "6 rows")


def test_cli_too_many_prediction_lines(tmp_path):
    path = tmp_path / "many.tsv"
    path.write_text(PRED.read_text() + "0\n0\n")
    assert_one_line_error(run_cli(GOLD, path), f"{path}:7:", "8 lines", "6 rows")


def test_cli_bad_label(tmp_path):
    lines = PRED.read_text().splitlines()
    lines[2] = "maybe\tB-VUL O B-PRO O"
    path = tmp_path / "label.tsv"
    path.write_text("\n".join(lines) + "\n")
    assert_one_line_error(run_cli(GOLD, path), f"{path}:3:", "'maybe'", "0 or 1")


def test_cli_unknown_tag(tmp_path):
    lines = PRED.read_text().splitlines()
    lines[4] = "0\tO O B-PRODUCT"
    path = tmp_path / "tag.tsv"
    path.write_text("\n".join(lines) + "\n")
    assert_one_line_error(run_cli(GOLD, path), f"{path}:5:", "'B-PRODUCT'")


def test_cli_bad_gold_file_is_reported_by_line(tmp_path):
    lines = GOLD.read_text().splitlines()
    lines[2] = "my cat likes the sun,7,,1,1,0"  # physical line 3: relevance must be 0 or 1
    path = tmp_path / "gold.csv"
    path.write_text("\n".join(lines) + "\n")
    assert_one_line_error(run_cli(path, PRED), f"{path}:3:")


# ---------------------------------------------------------------------------
# The real training file (skipped when absent)


def _write_predictions(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.data
def test_cli_gold_against_itself_scores_one(train_csv, tmp_path):
    from tweetner.data import load_csv

    examples, _ = load_csv(train_csv)
    pred = _write_predictions(
        tmp_path / "self.tsv",
        [f"1\t{' '.join(ex.tags)}" if ex.relevant else "0" for ex in examples],
    )
    result = run_cli(train_csv, pred, "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["case_studies"] == ["A", "B", "C"]
    assert scores["n_tweets"] == len(examples)
    for name in ("A", "B", "C"):
        study = scores["studies"][name]
        assert study["relevance"]["f1"] == 1.0
        for reading in ("headline", "pipeline"):
            for level in ("entity", "token"):
                assert study["ner"][reading][level]["micro"]["f1"] == 1.0
                assert study["ner"][reading][level]["macro"]["f1"] == 1.0
    assert scores["tie_break"]["distance"] == 0.0


@pytest.mark.data
def test_cli_all_relevant_all_o_against_the_real_file(train_csv, tmp_path):
    from tweetner.data import load_csv

    examples, _ = load_csv(train_csv)
    pred = _write_predictions(
        tmp_path / "all_o.tsv", [f"1\t{' '.join(['O'] * len(ex.tokens))}" for ex in examples]
    )
    result = run_cli(train_csv, pred, "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    for name in ("A", "B", "C"):
        relevance = scores["studies"][name]["relevance"]
        assert (relevance["tpr"], relevance["tnr"], relevance["f1"]) == (1.0, 0.0, 0.0)
        assert scores["studies"][name]["ner"]["headline"]["entity"]["micro"]["f1"] == 0.0
        assert scores["studies"][name]["ner"]["pipeline"]["token"]["micro"]["f1"] == 0.0
    assert scores["tie_break"]["distance"] == pytest.approx(math.sqrt(2))
