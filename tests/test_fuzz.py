"""Fuzz tests: cleaning, the exported signature, the predict CLI and the CSV loader fed arbitrary input; the load
generator and the soak benchmark on the tiny model.

Every property here is an invariant that holds for any input, so hypothesis is free to look for a counter-example.
TensorFlow is loaded once for the module: the exported model is loaded a single time and shared by the signature
properties and the in-process predict CLI runs.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from benchmarks import gen_tweets
from tweetner import data, predict, text
from tweetner.data import TAGS, DataError, load_csv

REPO = Path(__file__).resolve().parents[1]
ALLOWED = re.compile(r"[a-z0-9.:_\-]+( [a-z0-9.:_\-]+)*")
# Characters that can be part of a clean word, before (A-Z) or after lower-casing, and "&", which starts an entity.
WORD_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:_-"

# Pieces of tweets that random text almost never produces but the cleaning rules and the model care about.
FRAGMENTS = [
    "https://t.co/Ab12", "http://x.org/a?b=c", "HTTPS://", "www.vendor.net/p", "www.vendor.net", "pic.twitter.com/x9",
    "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;", "&#", "&", ";", "#Patch", "@Vendor_Sec", "RT",
    "CVE-2031-0001", "v2.3.1", "kb123.msi", "x86_64", ":", "-", ".", "_", "\t", "\r\n", "\r", "\x00", "\x1b[0m",
    "\x85", "\u00a0", "\u2028", "\u3000", "\u200b", "\ufeff", "\ufffd", "\u0130", "\u212a", "\u00e9",
    "\u0431\u0430\u0433", "\u6f0f\u6d1e", "\U0001F525", "\U0001F468\u200D\U0001F4BB", "\u202e", "e\u0301",
]
tweetish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=24).map(" ".join)
# Word breaks the cleaning turns into a single space (every control character and Unicode space).
breaks = st.sampled_from([chr(c) for c in range(0x3001) if chr(c).isspace() or unicodedata.category(chr(c)) == "Cc"])


# ---------------------------------------------------------------------------
# text.clean on arbitrary Unicode (test_text.py covers the rule table, idempotence on random text and TF parity)


@given(
    st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=1,
                     max_size=8), max_size=12),
    st.lists(st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters=WORD_CHARS + "&"),
                     min_size=1, max_size=3), min_size=13, max_size=13),
)
@settings(max_examples=200, deadline=None)
def test_every_character_outside_the_alphabet_separates_words(words, separators) -> None:
    # Any code point outside [a-z0-9.:_-] (other than the "&" of an entity) is a word break, wherever it is in
    # Unicode: controls, spaces, punctuation, symbols, emoji, letters of other scripts, combining marks.
    raw = separators[0] + "".join(w + s for w, s in zip(words, separators[1:]))
    assert text.tokenize(raw) == [w.lower() for w in words]


@given(tweetish, breaks, tweetish)
@settings(max_examples=200, deadline=None)
def test_whitespace_is_a_hard_word_boundary(left, sep, right) -> None:
    # No rule (links, entities, word starts) reaches across a space or control character, so cleaning two texts
    # joined by one equals cleaning each; and cleaning never makes a text longer.
    joined = left + sep + right
    assert text.tokenize(joined) == text.tokenize(left) + text.tokenize(right)
    out = text.clean(joined)
    assert len(out) <= len(joined)
    assert out == "" or ALLOWED.fullmatch(out)


def test_enormous_lines_are_cleaned_in_linear_time() -> None:
    rng = np.random.default_rng(7)
    pieces = [FRAGMENTS[i] for i in rng.integers(0, len(FRAGMENTS), 60_000)]
    line = " ".join(pieces) + " " + "A" * 200_000 + "\x00" * 100_000 + "\u00e9" * 100_000  # about 1 MB
    start = time.perf_counter()
    out = text.clean(line)
    elapsed = time.perf_counter() - start
    expected = [t for piece in pieces for t in text.tokenize(piece)] + ["a" * 200_000]
    assert out.split() == expected
    assert text.clean(out) == out and ALLOWED.fullmatch(out)
    assert elapsed < 20, f"{elapsed:.1f} s for {len(line)} characters"  # linear cleaning takes well under a second


def test_clean_is_linear_on_a_word_of_repeated_www() -> None:
    start = time.perf_counter()
    assert text.clean("www." * 10_000) == "www." * 10_000  # a bare host-like word is kept
    assert time.perf_counter() - start < 0.3  # linear cleaning takes a few milliseconds


# ---------------------------------------------------------------------------
# The exported serving signature


@pytest.fixture(scope="module")
def serving(tiny_model):
    """The tiny model's serving function, loaded once for this module."""
    from tweetner.serving import load_serving

    return load_serving(tiny_model)


def run_signature(serve, tweets: list[bytes]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    return {k: v.numpy() for k, v in serve(tf.constant(tweets, dtype=tf.string, shape=[len(tweets)])).items()}


raw_tweets = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda s: s.encode("utf-8")),
    tweetish.map(lambda s: s.encode("utf-8")),
    st.just(b""),
    # Very long lines: thousands of words, or one enormous word.
    st.builds(lambda w, k: (w + " ") * k, st.sampled_from(["patch", "CVE-2031-0001", "\U0001F525x", "&amp;"]),
              st.integers(200, 2500)).map(lambda s: s.encode("utf-8")),
    st.integers(1000, 50_000).map(lambda k: b"A" * k),
)


@given(st.lists(raw_tweets, min_size=1, max_size=8), st.data())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow])
def test_signature_invariants_on_arbitrary_bytes(serving, batch, draw) -> None:
    out = run_signature(serving, batch)
    size = len(batch)
    lengths = out["lengths"]
    assert {k: v.shape[0] for k, v in out.items()} == dict.fromkeys(out, size)
    assert out["tags"].shape == out["tokens"].shape == (size, max(1, int(lengths.max())))
    for i, raw in enumerate(batch):
        expected = text.tokenize(raw.decode("utf-8", errors="replace"))
        n = int(lengths[i])
        assert n == len(expected)
        assert [t.decode() for t in out["tokens"][i, :n]] == expected  # serving tokenises like Python cleaning
        tags = [t.decode() for t in out["tags"][i]]
        assert sum(t != "" for t in tags) == n and set(tags[:n]) <= set(TAGS) and set(tags[n:]) <= {""}
        p = float(out["probability"][i])
        assert math.isfinite(p) and 0.0 <= p <= 1.0
        assert out["relevant"][i] in (0, 1)
        if n == 0:
            assert out["relevant"][i] == 0

    again = run_signature(serving, batch)
    for key in out:
        np.testing.assert_array_equal(again[key], out[key], err_msg=key)

    j = draw.draw(st.integers(0, size - 1), label="alone")
    alone = run_signature(serving, [batch[j]])
    n = int(lengths[j])
    assert alone["lengths"][0] == n and alone["relevant"][0] == out["relevant"][j]
    np.testing.assert_array_equal(alone["tags"][0, :n], out["tags"][j, :n])
    np.testing.assert_allclose(alone["probability"][0], out["probability"][j], atol=1e-5)


def test_signature_accepts_an_empty_batch(serving) -> None:
    out = run_signature(serving, [])
    assert all(v.shape[0] == 0 for v in out.values())
    assert out["tags"].ndim == 2


# ---------------------------------------------------------------------------
# The predict CLI, in process (TensorFlow and the model load once)


@pytest.fixture(scope="module")
def predict_cli(serving, tiny_model):
    """Runs tweetner.predict.main in this process with the already loaded model; returns a function(argv) -> rc."""
    from tweetner import serving as serving_module

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(serving_module, "load_serving", lambda directory: serving)
        yield lambda *args: predict.main([*map(str, args), "--model", str(tiny_model), "-q"])


def expected_lines(content: bytes) -> list[str]:
    """The input lines as predict must see them, worked out independently of predict.read_lines: "\\n" alone ends a
    line, a final line needs no newline, one "\\r" before the "\\n" belongs to the line ending."""
    if not content:
        return []
    parts = content.split(b"\n")
    if content.endswith(b"\n"):
        parts.pop()
    return [(p[:-1] if p.endswith(b"\r") else p).decode("utf-8", errors="replace") for p in parts]


line_bytes = st.one_of(st.binary(max_size=60), tweetish.map(lambda s: s.encode("utf-8")),
                       st.text(max_size=60).map(lambda s: s.encode("utf-8")))
input_files = st.builds(
    lambda lines, end, final: end.join(lines) + (end if final and lines else b""),
    st.lists(line_bytes, max_size=12), st.sampled_from([b"\n", b"\r\n"]), st.booleans(),
)


@given(input_files, st.sampled_from(["tsv", "jsonl"]), st.sampled_from([1, 3, 512]))
@example(b"", "tsv", 512)  # an empty file
@example(b"\n", "tsv", 512)  # one empty line
@example(b"\r\n\r\n", "jsonl", 1)
@example(b"one\r\ntwo\r\nno final newline", "tsv", 3)
@example(b"\r", "tsv", 1)  # a lone CR is a line of its own content, not a line ending
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_predict_cli_one_output_line_per_input_line(predict_cli, content, fmt, batch_size) -> None:
    lines = expected_lines(content)
    assert len(lines) == content.count(b"\n") + (bool(content) and not content.endswith(b"\n"))
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.txt"), Path(tmp, "out.txt")
        src.write_bytes(content)
        assert predict_cli(src, dst, "--format", fmt, "--all-tags", "--batch-size", batch_size) == 0
        output = dst.read_bytes()
    assert output.count(b"\n") == len(lines) and (not output or output.endswith(b"\n"))
    for line, pred in zip(lines, output.decode("utf-8").split("\n")):
        tokens = text.tokenize(line)
        if fmt == "jsonl":
            row = json.loads(pred)
            assert row["tokens"] == tokens and len(row["tags"]) == len(tokens)
            assert row["relevant"] in (0, 1) and 0.0 <= row["probability"] <= 1.0
        else:
            label, tab, tags = pred.partition("\t")
            assert label in ("0", "1") and tab == "\t"
            assert len(tags.split()) == len(tokens) and set(tags.split()) <= set(TAGS)


def test_predict_cli_streams_stdin_to_stdout(predict_cli, monkeypatch, capsys) -> None:
    content = b"acme router exploit\r\n\xff\xfe\n\nlast line without newline"

    class Stdin:
        buffer = io.BytesIO(content)

    monkeypatch.setattr(sys, "stdin", Stdin())
    assert predict_cli("-", "-", "--all-tags") == 0
    out = capsys.readouterr().out.split("\n")
    assert out[-1] == "" and len(out) - 1 == len(expected_lines(content)) == 4
    assert [len(o.partition("\t")[2].split()) for o in out[:-1]] == [3, 0, 0, 4]


def test_predict_batches_respect_the_token_budget_after_cleaning() -> None:
    lines = ["patch now"] * 511 + ["&amp;" * 2000] + ["a,b,c,d,e,f,g,h"] * 300
    true_length = [max(1, len(text.tokenize(s))) for s in lines]
    for batch in predict.length_batches(lines, 512):
        padded = len(batch) * max(true_length[i] for i in batch)
        assert len(batch) == 1 or padded <= predict.TOKEN_BUDGET, (len(batch), padded)


# ---------------------------------------------------------------------------
# The CSV loader on arbitrary files

HEADERS = [
    "clean_tweet,relevant,entities,A,B,C", "clean_tweet,class,entities", "C,entities,B,clean_tweet,A,relevant",
    "clean_tweet,relevant,entities,A,B", "clean_tweet;relevant;entities", "clean_tweet\trelevant\tentities",
    "clean_tweet,relevant,class,entities", "tweet,label", "\ufeffclean_tweet,relevant,entities,A,B,C", "",
]
FIELDS = [
    "0", "1", "", "2", " 1 ", "O", "B-ORG", "I-PRO", "B-ORG O", "O O O", "B-ID I-ID", "b-org", "B-FOO", "yes",
    "acme fixes it", "a b", "x", '"quoted, comma"', '"two\nlines"', '"unterminated', 'x""y', '"a"b', "\ufeff", "\x00",
    "\r", "\n", "\x85", "\u2028",
]
csv_rows = st.lists(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), max_size=8).map(",".join)
structured_csv = st.builds(
    lambda bom, header, rows, end, final, encoding: (
        (b"\xef\xbb\xbf" if bom else b"")
        + (end.join([header, *rows]) + (end if final else "")).encode(encoding, errors="replace")
    ),
    st.booleans(), st.one_of(st.sampled_from(HEADERS), st.text(max_size=30)), st.lists(csv_rows, max_size=6),
    st.sampled_from(["\n", "\r\n", "\r"]), st.booleans(), st.sampled_from(["utf-8"] * 6 + ["latin-1", "utf-16"]),
)


@given(st.one_of(st.binary(max_size=300), structured_csv), st.booleans(), st.booleans(), st.booleans())
@example(b"a" * 200_000, False, False, False)  # one field above the csv module's size limit
@example(b"clean_tweet,relevant,entities\n" + b"x" * 200_000 + b",0,\n", False, False, False)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_load_csv_loads_or_raises_data_error(content, dedupe, repair_iob, skip_invalid) -> None:
    # Any other exception (UnicodeError, csv.Error, IndexError, ...) fails this test.
    most_lines = content.count(b"\n") + content.count(b"\r") + 2
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "f.csv")
        path.write_bytes(content)
        try:
            examples, report = load_csv(path, dedupe=dedupe, repair_iob=repair_iob, skip_invalid=skip_invalid)
        except DataError as err:
            assert err.path == str(path) and 0 <= err.line <= most_lines
            assert str(err) == f"{path}:{err.line}: {err.problem}" and "\n" not in str(err) and err.problem
            return
    assert report.overall.rows == len(examples) <= report.total_rows
    assert report.skipped == len(report.skipped_messages) <= report.total_rows
    lines = [ex.line for ex in examples]
    assert lines == sorted(set(lines)) and all(2 <= n <= most_lines for n in lines)
    for ex in examples:
        assert (ex.tags is None) == (ex.relevant == 0)
        assert set(ex.cases) <= set(data.CASES) and (ex.cases != ()) == report.has_cases
        if ex.tags is not None:
            assert len(ex.tags) == len(ex.tokens) > 0 and set(ex.tags) <= set(TAGS)
            if repair_iob:
                assert data.iob_violations(ex.tags) == []
    if dedupe:
        assert len({ex.text for ex in examples}) == len(examples)
    assert isinstance(report.summary(), str)


def run_data_cli(path: Path | str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tweetner.data", str(path)], capture_output=True, cwd=REPO,
                          env={**os.environ, **env}, timeout=120)


@pytest.mark.parametrize("content", [
    pytest.param(bytes(np.random.default_rng(3).integers(0, 256, 2000, dtype=np.uint8)), id="random bytes"),
    pytest.param(b"clean_tweet,relevant,entities\n\"" + b"x" * 200_000 + b"\",0,\n", id="field over csv limit"),
])
def test_data_cli_never_prints_a_traceback(tmp_path, content) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    r = run_data_cli(path)
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err
    assert err.startswith(f"error: {path}:") and err.count("\n") == 1


def test_data_cli_summary_survives_a_non_utf8_file_name(tmp_path) -> None:
    path = tmp_path / os.fsdecode(b"tweets\xff.csv")
    path.write_bytes(b"clean_tweet,relevant,entities\nacme fixes it,1,B-ORG O O\n")
    r = run_data_cli(path, PYTHONIOENCODING="utf-8:strict")
    assert r.returncode == 0 and b"Traceback" not in r.stderr


# ---------------------------------------------------------------------------
# The load generator and the soak benchmark


def test_generator_is_seeded_and_never_breaks_a_line() -> None:
    first = list(gen_tweets.generate(3000, seed=11))
    assert first == list(gen_tweets.generate(3000, seed=11))
    assert list(gen_tweets.generate(1000, seed=11)) == first[:1000]  # a longer run extends a shorter one
    assert list(gen_tweets.generate(1000, seed=12)) != first[:1000]
    assert len(first) == 3000 and not any(b"\n" in line for line in first)
    buf = io.BytesIO()
    assert gen_tweets.write_lines(iter(first), buf) == 3000
    assert expected_lines(buf.getvalue()) == [line.decode("utf-8", errors="replace").removesuffix("\r")
                                              for line in first]


def test_generator_covers_real_and_hostile_tweets() -> None:
    lines = list(gen_tweets.generate(5000, seed=1))

    def share(pred) -> float:
        return sum(map(pred, lines)) / len(lines)

    def invalid(b: bytes) -> bool:
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    for name, pred in {
        "link": lambda b: b"://" in b or b"www." in b.lower() or b"pic.twitter.com" in b.lower(),
        "cve id": lambda b: re.search(rb"(?i)cve-\d{4}-\d{4,5}", b) is not None,
        "version": lambda b: re.search(rb"\d+\.\d+", b) is not None,
        "mention": lambda b: b"@" in b,
        "hashtag": lambda b: b"#" in b,
        "emoji": lambda b: b"\xf0\x9f" in b,
        "html entity": lambda b: re.search(rb"(?i)&(amp|lt|gt|quot|#39);", b) is not None,
        "non-Latin": lambda b: re.search("[\u0400-\u04ff\u0600-\u06ff\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]",
                                         b.decode("utf-8", errors="replace")) is not None,
    }.items():
        assert share(pred) > 0.02, name
    hostile = {
        "empty": lambda b: b == b"",
        "invalid UTF-8": invalid,
        "NUL or control": lambda b: re.search(rb"[\x00-\x08\x0b\x0c\x1b]", b) is not None,
        "enormous": lambda b: len(b) > 1000,
    }
    for name, pred in hostile.items():
        assert 0 < share(pred) < 0.02, name
    # Realistic lengths: most lines are tweet-sized.
    assert 5 <= np.median([len(text.tokenize(b.decode("utf-8", errors="replace"))) for b in lines]) <= 30


def run_gen(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.gen_tweets", *args], capture_output=True, cwd=REPO,
                          timeout=120, **kwargs)


def test_generator_cli() -> None:
    r = run_gen("50", "--seed", "4")
    assert r.returncode == 0 and r.stderr == b""
    assert r.stdout == b"\n".join(gen_tweets.generate(50, seed=4)) + b"\n"
    assert run_gen("0").stdout == b""
    bad = run_gen("-3")
    assert bad.returncode == 2 and bad.stderr.decode().strip() == "error: N must be 0 or more, got -3"
    assert "--seed" in run_gen("--help").stdout.decode()


def test_generator_streams_and_stops_quietly_when_the_reader_leaves() -> None:
    # Ten million lines would take minutes and gigabytes if they were built before writing: the first line must
    # arrive at once, and closing the pipe must end the generator without a traceback.
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.gen_tweets", "10000000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO)
    first = proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert first.endswith(b"\n") and proc.stderr.read() == b""
    proc.stderr.close()


def run_soak(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.soak", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=600)


def test_soak_counts_every_line_on_the_tiny_model(tiny_model) -> None:
    r = run_soak("--n", "2000", "--model", str(tiny_model), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result["input_lines"] == result["output_lines"] == 2000 and result["equal"] is True
    assert result["returncode"] == 0 and result["generator_returncode"] == 0 and result["error"] == ""
    assert result["input_bytes"] == len(b"\n".join(gen_tweets.generate(2000)) + b"\n")
    assert result["seconds"] > 0 and result["tweets_per_second"] > 0
    assert result["peak_rss_mb"] > 50  # the predictor's own peak (TensorFlow alone takes hundreds of MB)


def test_soak_reports_a_failing_predictor(tmp_path) -> None:
    r = run_soak("--n", "100", "--model", str(tmp_path))  # a folder without any model
    assert r.returncode == 1
    assert "equal:              NO" in r.stdout and str(tmp_path) in r.stdout and "output lines:       0" in r.stdout
    missing = run_soak("--model", str(tmp_path / "absent"))
    assert missing.returncode == 2 and missing.stderr.strip() == f"error: {tmp_path / 'absent'}: no such model folder"
