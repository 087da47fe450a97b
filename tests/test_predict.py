"""The predict CLI: one output line per input line whatever the input holds, clear errors, both formats."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tweetner import predict, text

HOSTILE = [
    b"Microsoft patches critical RCE in Windows 10 (CVE-2031-1234) https://example.com/x",
    b"",
    b"   \t  ",
    b"caf\xc3\xa9 \xff\xfe broken bytes \xc3",
    b"nul\x00inside and \x01\x02 control \x1b[31m chars",
    b"crlf line\r",
    b"lone \r carriage return and vertical \x0b tab and \xe2\x80\xa8 line separator",
    b"\xf0\x9f\x94\xa5 emoji only \xf0\x9f\x98\x80",
    " ".join(["overflow"] * 3000).encode(),
    b"\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xe4\xbd\xa0\xe5\xa5\xbd",
    b"last line without newline v2.3.1",
]


def _run(*args, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tweetner.predict", *map(str, args)], input=stdin,
                          capture_output=True, timeout=300)


def _expected_lines(data: bytes) -> list[str]:
    return list(predict.read_lines(__import__("io").BytesIO(data)))


def test_read_lines_splits_on_newline_only():
    data = b"a\r\nb\rc\x0bd\n\nlast"
    assert _expected_lines(data) == ["a", "b\rc\x0bd", "", "last"]
    assert _expected_lines(b"") == []
    assert _expected_lines(b"\n") == [""]


def test_hostile_input_keeps_one_line_per_input_line(tiny_model, tmp_path):
    data = b"\n".join(HOSTILE)
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_bytes(data)
    r = _run(src, dst, "--model", tiny_model, "--all-tags", "--batch-size", "3")
    assert r.returncode == 0, r.stderr.decode()
    assert b"Traceback" not in r.stderr
    out = dst.read_text(encoding="utf-8").split("\n")
    assert out[-1] == "" and len(out) - 1 == len(HOSTILE)
    for line, pred in zip(_expected_lines(data), out):
        label, _, tags = pred.partition("\t")
        assert label in ("0", "1")
        assert len(tags.split()) == len(text.tokenize(line)), (line[:40], pred[:80])


def test_output_is_deterministic_and_independent_of_batch_size(tiny_model, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"\n".join(HOSTILE) + b"\n")
    outs = []
    for i, bs in enumerate(("1", "4", "512")):
        dst = tmp_path / f"out{i}.txt"
        assert _run(src, dst, "--model", tiny_model, "--batch-size", bs, "-q").returncode == 0
        outs.append(dst.read_text())
    assert outs[0] == outs[1] == outs[2]
    assert len(outs[0].splitlines()) == len(HOSTILE)


def test_empty_file_gives_empty_output_and_stdin_stdout_work(tiny_model, tmp_path):
    src, dst = tmp_path / "empty.txt", tmp_path / "out.txt"
    src.write_bytes(b"")
    assert _run(src, dst, "--model", tiny_model).returncode == 0
    assert dst.read_bytes() == b""
    r = _run("-", "-", "--model", tiny_model, "-q", stdin=b"exploit in acme router\n\nhello\n")
    assert r.returncode == 0 and len(r.stdout.decode().splitlines()) == 3


def test_jsonl_has_entities_matching_tags(tiny_model, tmp_path):
    src, dst = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text("acme router 2.1 has a buffer overflow cve-2031-0042\n\n")
    assert _run(src, dst, "--model", tiny_model, "--format", "jsonl").returncode == 0
    rows = [json.loads(line) for line in dst.read_text().splitlines()]
    assert len(rows) == 2
    first = rows[0]
    assert first["tokens"] == text.tokenize("acme router 2.1 has a buffer overflow cve-2031-0042")
    assert len(first["tags"]) == len(first["tokens"]) and 0.0 <= first["probability"] <= 1.0
    for ent in first["entities"]:
        assert first["tags"][ent["start"]].endswith(ent["type"])
        assert ent["text"] == " ".join(first["tokens"][ent["start"]: ent["end"]])
    assert rows[1]["tokens"] == [] and rows[1]["tags"] == []


def test_tsv_omits_tags_on_irrelevant_lines_unless_asked(tiny_model, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(["exploit for acme router", "nice weather", ""]) + "\n")
    plain, full = tmp_path / "a.tsv", tmp_path / "b.tsv"
    assert _run(src, plain, "--model", tiny_model).returncode == 0
    assert _run(src, full, "--model", tiny_model, "--all-tags").returncode == 0
    for p, f in zip(plain.read_text().splitlines(), full.read_text().splitlines()):
        assert f.split("\t")[0] == p.split("\t")[0]
        assert ("\t" in p) == (p.startswith("1"))
        assert "\t" in f


@pytest.mark.parametrize("problem", ["missing_model", "missing_input", "incomplete_model", "inconsistent_model",
                                     "missing_case", "bad_batch"])
def test_errors_are_one_clear_line(problem, tiny_model, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("hello\n")
    model = tiny_model
    extra = []
    if problem == "missing_model":
        model = tmp_path / "nowhere"
    elif problem == "missing_input":
        src = tmp_path / "absent.txt"
    elif problem in ("incomplete_model", "inconsistent_model"):
        model = tmp_path / "copy" / "1"
        shutil.copytree(tiny_model, model)
        if problem == "incomplete_model":
            (model / "assets.extra" / "tweetner" / "words.txt").unlink()
        else:
            with open(model / "assets.extra" / "tweetner" / "words.txt", "a") as f:
                f.write("extra\n")
    elif problem == "missing_case":
        model = tiny_model.parent.parent
        extra = ["--case", "B"]
    elif problem == "bad_batch":
        extra = ["--batch-size", "0"]
    r = _run(src, tmp_path / "out.txt", "--model", model, *extra)
    err = r.stderr.decode()
    assert r.returncode == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    if problem in ("missing_model", "incomplete_model", "inconsistent_model"):
        assert str(model) in err


def test_help_explains_the_format():
    r = _run("--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert "--all-tags" in out and "jsonl" in out and "--case" in out
