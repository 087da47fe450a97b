"""Tests for tweetner.data: CSV validation, quirk handling, the report, the CLI and the bundled sample."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from tweetner import data
from tweetner.data import (
    CASES,
    TAGS,
    DataError,
    Example,
    has_cases,
    iob_violations,
    load_csv,
    repair_iob_tags,
    sample_path,
    select_case,
)
from tweetner.text import clean

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
HEADER = "clean_tweet,relevant,entities,A,B,C\n"
GOOD = "acme fixes a bug,1,B-ORG O O B-VUL,1,0,0\n"  # a valid row, line 2 when it follows HEADER
CHAT = "nice weather today,0,,0,1,0\n"


def write(tmp_path: Path, content: str | bytes, name: str = "input.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))  # no newline translation: tests control CR/LF
    else:
        path.write_bytes(content)
    return path


# (id, file content, expected line, expected problem text)
MALFORMED = [
    ("missing column", "clean_tweet,relevant,A,B,C\nx,0,1,0,0\n", 1, "missing column 'entities'"),
    ("missing label column", "clean_tweet,entities\nx,\n", 1, "missing column 'relevant' (or 'class')"),
    ("extra column", "clean_tweet,relevant,entities,A,B,C,foo\n", 1, "unexpected column 'foo'"),
    ("duplicate column", "clean_tweet,relevant,entities,entities\n", 1, "duplicate column 'entities'"),
    ("two label columns", "clean_tweet,relevant,class,entities\n", 1, "both 'relevant' and 'class' columns"),
    ("partial flag columns", "clean_tweet,relevant,entities,A,B\nx,0,,1,0\n", 1,
     "case study columns must be all of A, B, C or none: missing 'C'"),
    ("bad label", HEADER + GOOD + "acme fixes a bug,2,,1,0,0\n", 3, "label must be 0 or 1, got '2'"),
    ("empty label", HEADER + "a b,,,1,0,0\n", 2, "label must be 0 or 1, got ''"),
    ("tag count mismatch", HEADER + CHAT + GOOD + "one two three four five,1,O O O,1,0,0\n", 4,
     "3 tags for 5 tokens"),
    ("relevant row without tags", HEADER + "acme fixes a bug,1,,1,0,0\n", 2, "0 tags for 4 tokens"),
    ("unknown tag", HEADER + "acme foo,1,B-ORG B-FOO,1,0,0\n", 2, "unknown tag 'B-FOO' at token 2"),
    ("lower-case tag", HEADER + "acme,1,b-org,1,0,0\n", 2, "unknown tag 'b-org' at token 1"),
    ("no case flag", HEADER + GOOD + CHAT + "quiet day,0,,0,0,0\n", 4, "no case study flag set (A, B, C all 0)"),
    ("bad flag", HEADER + "quiet day,0,,1,yes,0\n", 2, "flag B must be 0 or 1, got 'yes'"),
    ("empty relevant text", HEADER + "  ,1,,1,0,0\n", 2, "empty clean_tweet on a relevant row (0 tokens)"),
    ("too many fields", HEADER + "acme, inc fixes it,0,,1,0,0\n", 2, "expected 6 fields, got 7 (an unquoted comma"),
    ("too few fields", HEADER + "quiet day,0,,1,0\n", 2, "expected 6 fields, got 5"),
    ("empty file", "", 0, "empty file"),
    ("whitespace-only file", "\n  \n\n", 0, "empty file"),
    ("header only", HEADER, 2, "no data rows after the header"),
    ("binary file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00", 1, "not a UTF-8 text file (byte 0x89)"),
    ("NUL byte", HEADER + GOOD + "quiet\x00day,0,,1,0,0\n", 3, "not a UTF-8 text file (NUL byte)"),
    ("latin-1 file", (HEADER + GOOD + "caf\xe9 open,0,,1,0,0\n").encode("latin-1"), 3, "not a UTF-8 text file"),
    ("utf-16 file", (HEADER + CHAT).encode("utf-16"), 1, "not a UTF-8 text file"),
    ("tab-separated", HEADER.replace(",", "\t") + "quiet day\t0\t\t1\t0\t0\n", 1,
     "file looks tab-separated, expected commas"),
    ("semicolon-separated", HEADER.replace(",", ";"), 1, "file looks semicolon-separated, expected commas"),
    ("unterminated quote", HEADER + GOOD + '"quiet day,0,,1,0,0\n', 3, "malformed CSV"),
    # A quoted field spanning lines 2-3 shifts the physical line of the next row to 4.
    ("line numbers after multi-line field", HEADER + '"quiet\nday",0,,1,0,0\nx,7,,1,0,0\n', 4,
     "label must be 0 or 1, got '7'"),
    # Blank lines still count as physical lines.
    ("line numbers after blank lines", HEADER + "\n\n" + "x,0,,0,0,0\n", 4, "no case study flag set"),
]


@pytest.mark.parametrize(("content", "line", "problem"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_files_give_path_line_and_problem(tmp_path, content, line, problem) -> None:
    path = write(tmp_path, content)
    with pytest.raises(DataError) as caught:
        load_csv(path)
    err = caught.value
    assert (err.path, err.line) == (str(path), line)
    assert problem in err.problem
    assert str(err) == f"{path}:{line}: {err.problem}"
    assert "\n" not in str(err)


def test_missing_file_and_directory(tmp_path) -> None:
    with pytest.raises(DataError, match=r":0: no such file$"):
        load_csv(tmp_path / "absent.csv")
    with pytest.raises(DataError, match=r":0: is a directory"):
        load_csv(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("\ufeff" + HEADER + GOOD + CHAT, id="BOM"),
        pytest.param((HEADER + GOOD + CHAT).replace("\n", "\r\n"), id="CRLF"),
        pytest.param(HEADER + GOOD + CHAT.rstrip("\n"), id="no final newline"),
        pytest.param(HEADER + "\n" + GOOD + "\n\n" + CHAT + "\n", id="blank lines"),
        pytest.param("C,entities,B,clean_tweet,A,relevant\n0,B-ORG O O B-VUL,0,acme fixes a bug,1,1\n"
                     "0,,1,nice weather today,0,0\n", id="columns in another order"),
        pytest.param(HEADER + '"acme fixes a bug",1,"B-ORG O O B-VUL",1,0,0\n"nice weather today",0,"",0,1,0\n',
                     id="quoted fields"),
    ],
)
def test_accepted_variants_load_the_same_examples(tmp_path, content) -> None:
    examples, report = load_csv(write(tmp_path, content))
    assert [(e.text, e.relevant, e.tags, e.cases) for e in examples] == [
        ("acme fixes a bug", 1, ("B-ORG", "O", "O", "B-VUL"), ("A",)),
        ("nice weather today", 0, None, ("B",)),
    ]
    assert report.total_rows == 2 and report.skipped == 0


def test_line_numbers_are_physical(tmp_path) -> None:
    content = HEADER + "\n" + GOOD + '"two\nlines",0,,1,0,0\n' + CHAT
    examples, _ = load_csv(write(tmp_path, content.replace("\n", "\r\n")))
    assert [e.line for e in examples] == [3, 4, 6]
    assert examples[1].text == "two lines"


def test_quoted_field_with_comma(tmp_path) -> None:
    examples, _ = load_csv(write(tmp_path, HEADER + '"acme, inc fixes it",1,"B-ORG I-ORG O O",0,0,1\n'))
    assert examples[0].tokens == ["acme,", "inc", "fixes", "it"]
    assert examples[0].tags == ("B-ORG", "I-ORG", "O", "O")


def test_class_column_and_file_without_case_columns(tmp_path) -> None:
    content = "clean_tweet,class,entities\nacme fixes a bug,1,B-ORG O O B-VUL\nnice weather today,0,\n"
    examples, report = load_csv(write(tmp_path, content))
    assert [e.relevant for e in examples] == [1, 0]
    assert all(e.cases == () for e in examples)
    assert not has_cases(examples) and not report.has_cases and report.per_case == {}
    assert "one case study" in report.summary()
    with pytest.raises(ValueError, match="no case-study flags"):
        select_case(examples, "A")


def test_whitespace_is_normalised_and_irrelevant_empty_text_is_kept(tmp_path) -> None:
    content = HEADER + "  acme   fixes a bug ,1,B-ORG O O B-VUL ,1,0,0\n ,0,,0,0,1\n"
    examples, _ = load_csv(write(tmp_path, content))
    assert examples[0].text == "acme fixes a bug"
    assert (examples[1].text, examples[1].tokens, examples[1].tags) == ("", [], None)


def test_report_on_fixture_counts_every_quirk() -> None:
    examples, report = load_csv(FIXTURES / "data_small.csv")
    assert len(examples) == report.total_rows == 8
    assert report.overall == data.CaseCounts(rows=8, relevant=4, irrelevant=4)
    assert report.per_case == {
        "A": data.CaseCounts(3, 2, 1),
        "B": data.CaseCounts(3, 1, 2),
        "C": data.CaseCounts(4, 2, 2),
    }
    assert report.multi_case == 2
    assert (report.duplicates, report.duplicates_dropped, report.label_conflicts, report.flag_conflicts) == (2, 0, 0, 1)
    assert report.ignored_tags == 1 and examples[3].tags is None
    assert (report.bad_iob, report.bad_iob_lines, report.repaired) == (1, (7,), 0)
    assert examples[5].tags[:2] == ("I-PRO", "I-PRO")  # reported, not changed
    summary = report.summary()
    for needle in ("8 rows, 8 loaded (4 relevant, 4 irrelevant)", "case study C: 4 rows (2 relevant, 2 irrelevant)",
                   "repeating an earlier text): 2", "ignored on irrelevant rows: 1", "lines 7"):
        assert needle in summary
    assert select_case(examples, "B") == [examples[1], examples[2], examples[4]]
    with pytest.raises(ValueError, match="unknown case study 'D'"):
        select_case(examples, "D")


def test_dedupe_keeps_first_and_counts_label_conflicts(tmp_path) -> None:
    content = HEADER + GOOD + CHAT + "acme  fixes a bug,0,,0,0,1\n" + CHAT + GOOD
    kept, report = load_csv(write(tmp_path, content))
    assert len(kept) == 5 and report.duplicates == 3 and report.label_conflicts == 1
    examples, report = load_csv(write(tmp_path, content), dedupe=True)
    assert [(e.line, e.relevant) for e in examples] == [(2, 1), (3, 0)]
    assert (report.duplicates, report.duplicates_dropped, report.label_conflicts) == (3, 3, 1)
    assert report.overall.rows == 2 and report.total_rows == 5


def test_bad_iob_is_repaired_only_on_request(tmp_path) -> None:
    content = (HEADER + "a b c d,1,I-PRO I-PRO O I-VUL,1,0,0\n" + GOOD
               + "a b c,1,B-ORG I-PRO I-PRO,1,0,0\n")
    examples, report = load_csv(write(tmp_path, content))
    assert examples[0].tags == ("I-PRO", "I-PRO", "O", "I-VUL")
    assert (report.bad_iob, report.bad_iob_lines, report.repaired) == (2, (2, 4), 0)
    examples, report = load_csv(write(tmp_path, content), repair_iob=True)
    assert examples[0].tags == ("B-PRO", "I-PRO", "O", "B-VUL")
    assert examples[2].tags == ("B-ORG", "B-PRO", "I-PRO")
    assert (report.bad_iob, report.repaired) == (2, 2)
    assert "2 repaired to B-" in report.summary()


def test_skip_invalid_counts_and_lists_rows(tmp_path) -> None:
    content = HEADER + GOOD + "x,2,,1,0,0\n" + CHAT + "a b,1,O,1,0,0\n" + "y,0,,0,0,0\n"
    path = write(tmp_path, content)
    examples, report = load_csv(path, skip_invalid=True)
    assert [e.line for e in examples] == [2, 4]
    assert report.total_rows == 5 and report.skipped == 3
    assert report.skipped_messages == (
        f"{path}:3: label must be 0 or 1, got '2'",
        f"{path}:5: 1 tags for 2 tokens",
        f"{path}:6: no case study flag set (A, B, C all 0)",
    )
    assert f"{path}:5: 1 tags for 2 tokens" in report.summary()
    with pytest.raises(DataError):  # file-level problems are never skipped
        load_csv(write(tmp_path, "clean_tweet,relevant\n"), skip_invalid=True)


def test_iob_helpers() -> None:
    assert iob_violations([]) == []
    assert iob_violations(["O", "B-PRO", "I-PRO", "I-PRO", "O"]) == []
    assert iob_violations(["I-ORG", "O", "I-PRO", "B-PRO", "I-VER", "I-VER"]) == [0, 2, 4]
    assert repair_iob_tags(["I-ORG", "I-ORG", "O", "I-ID"]) == ("B-ORG", "I-ORG", "O", "B-ID")
    assert iob_violations(repair_iob_tags(["B-VUL", "I-ID", "I-VUL"])) == []


def test_contract_constants_and_example() -> None:
    assert data.TAG_TYPES == ("ORG", "PRO", "VER", "VUL", "ID")
    assert TAGS == ("O", "B-ORG", "I-ORG", "B-PRO", "I-PRO", "B-VER", "I-VER", "B-VUL", "I-VUL", "B-ID", "I-ID")
    assert CASES == ("A", "B", "C")
    ex = Example("acme fixes it", 1, ("B-ORG", "O", "O"), ("A", "C"), 5)
    assert ex.tokens == ["acme", "fixes", "it"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.relevant = 0  # type: ignore[misc]
    with pytest.raises(ValueError, match="2 tags for 3 tokens"):
        Example("acme fixes it", 1, ("B-ORG", "O"), (), 0)
    with pytest.raises(ValueError, match="relevant must be 0 or 1"):
        Example("x", 2, None, (), 0)
    err = DataError("f.csv", 7, "bad thing")
    assert isinstance(err, ValueError) and (err.path, err.line, err.problem) == ("f.csv", 7, "bad thing")
    assert str(err) == "f.csv:7: bad thing"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tweetner.data", *args], capture_output=True, text=True, cwd=REPO)


def test_cli_reports_one_line_and_exit_code_2(tmp_path) -> None:
    bad = write(tmp_path, HEADER + GOOD + "acme,1,B-FOO,1,0,0\n")
    for args, expected in [
        ((str(bad),), f"error: {bad}:3: unknown tag 'B-FOO' at token 1\n"),
        ((str(tmp_path / "absent.csv"),), f"error: {tmp_path / 'absent.csv'}:0: no such file\n"),
    ]:
        result = run_cli(*args)
        assert result.returncode == 2
        assert result.stderr == expected
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_cli_prints_summary(tmp_path, capsys) -> None:
    assert data.main([str(FIXTURES / "data_small.csv"), "--dedupe", "--repair-iob"]) == 0
    out = capsys.readouterr().out
    assert "8 rows, 6 loaded" in out and "2 dropped" in out and "1 repaired" in out
    bad = write(tmp_path, HEADER + GOOD + "x,2,,1,0,0\n")
    assert data.main([str(bad), "--skip-invalid"]) == 0
    assert "invalid rows skipped: 1" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        data.main(["--help"])
    assert exit_info.value.code == 0
    assert "--repair-iob" in capsys.readouterr().out


def test_import_does_not_load_tensorflow() -> None:
    code = "import sys, tweetner.data; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---------------------------------------------------------------------------
# The bundled synthetic sample


def test_sample_loads_cleanly_and_covers_both_tasks() -> None:
    examples, report = load_csv(sample_path())
    assert sample_path() == REPO / "tweetner" / "resources" / "sample.csv"
    assert 350 <= len(examples) <= 450
    assert (report.skipped, report.bad_iob, report.ignored_tags, report.label_conflicts) == (0, 0, 0, 0)
    assert 0.35 <= report.overall.relevant / report.overall.rows <= 0.45
    assert report.has_cases and report.multi_case > 0
    for case in CASES:
        counts = report.per_case[case]
        assert counts.relevant >= 20 and counts.irrelevant >= 20, case
    texts = {e.text for e in examples}
    assert len(texts) >= 300  # varied, not a handful of templates repeated
    assert all(clean(e.text) == e.text for e in examples)  # already in clean_tweet form
    lengths = [len(e.tokens) for e in examples]
    assert min(lengths) <= 5 and max(lengths) >= 18 and max(lengths) <= 30
    used = {t for e in examples if e.tags for t in e.tags}
    assert used == set(TAGS)  # every tag, B- and I- of each type, occurs


def test_sample_generator_is_deterministic(tmp_path) -> None:
    out = tmp_path / "sample.csv"
    result = subprocess.run([sys.executable, str(REPO / "tools" / "make_sample.py"), "--out", str(out)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == sample_path().read_bytes()


# ---------------------------------------------------------------------------
# The real competition file


@pytest.mark.data
def test_real_file_counts(train_csv) -> None:
    examples, report = load_csv(train_csv)
    assert report.total_rows == len(examples) == 21047
    assert (report.overall.relevant, report.overall.irrelevant) == (8093, 12954)
    assert report.ignored_tags == 27 and report.skipped == 0 and report.bad_iob == 0
    assert report.has_cases and set(report.per_case) == set(CASES)
    # Per-case counts add up: every case splits into relevant + irrelevant, and a tweet counts once per flag.
    for counts in report.per_case.values():
        assert counts.rows == counts.relevant + counts.irrelevant
    assert sum(c.rows for c in report.per_case.values()) == sum(len(e.cases) for e in examples)
    assert sum(c.relevant for c in report.per_case.values()) == sum(len(e.cases) for e in examples if e.relevant)
    assert all(e.cases for e in examples)
    assert sum(len(select_case(examples, c)) for c in CASES) == sum(len(e.cases) for e in examples)
    deduped, dreport = load_csv(train_csv, dedupe=True)
    assert len(deduped) == 18863 and dreport.duplicates_dropped == 21047 - 18863
