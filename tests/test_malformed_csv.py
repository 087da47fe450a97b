"""Every way a competition CSV can be wrong, through the command a user runs: `python -m tweetner.train --data FILE`.

tests/test_data.py checks that the loader names the right line and problem; this module checks what reaches the user
of the training command: one `error: FILE:LINE: PROBLEM` line on stderr, exit code 2, no traceback, nothing on stdout,
nothing written, and all of it before TensorFlow is imported, so a bad file costs a fraction of a second rather than a
training run.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEADER = "clean_tweet,relevant,entities,A,B,C\n"
ROW = "acme patches its router,1,B-ORG O O B-PRO,1,0,0\n"  # valid; line 2 after HEADER
CHAT = "lunch at the harbour,0,,0,0,1\n"

# (id, file content, line named in the error, problem text)
CASES = [
    ("missing column", "clean_tweet,relevant,A,B,C\nlunch,0,1,0,0\n", 1, "missing column 'entities'"),
    ("extra column", "clean_tweet,relevant,entities,A,B,C,source\n" + ROW, 1, "unexpected column 'source'"),
    ("bad label", HEADER + ROW + CHAT + "acme patches its router,yes,,1,0,0\n", 4, "label must be 0 or 1, got 'yes'"),
    ("tag/token count mismatch", HEADER + ROW + "acme patches its router,1,B-ORG O,1,0,0\n", 3, "2 tags for 4 tokens"),
    ("unknown tag", HEADER + "acme router,1,B-ORG B-DEVICE,0,1,0\n", 2, "unknown tag 'B-DEVICE' at token 2"),
    # Training repairs I- tags that continue no entity (they occur in real annotations), so a bad IOB sequence is
    # not fatal: the first problem reported is the bad label on the row after it.
    ("bad IOB sequence is repaired, not fatal", HEADER + "acme router,1,I-ORG I-PRO,1,0,0\n" + "x,3,,1,0,0\n", 3,
     "label must be 0 or 1, got '3'"),
    ("no case flag", HEADER + ROW + "lunch at the harbour,0,,0,0,0\n", 3, "no case study flag set (A, B, C all 0)"),
    ("empty file", "", 0, "empty file"),
    ("blank lines only", "\r\n\n  \n", 0, "empty file"),
    ("binary file", b"\x1f\x8b\x08\x00compressed\x00\xff", 1, "not a UTF-8 text file"),
    ("UTF-16 spreadsheet export", (HEADER + ROW).encode("utf-16"), 1, "not a UTF-8 text file (byte 0xff)"),
    ("tab delimiter", (HEADER + ROW).replace(",", "\t"), 1, "file looks tab-separated, expected commas"),
    ("semicolon delimiter", (HEADER + ROW).replace(",", ";"), 1, "file looks semicolon-separated, expected commas"),
    ("BOM does not shift line numbers", "\ufeff" + HEADER + ROW + "x,1,O O,1,0,0\n", 3, "2 tags for 1 tokens"),
    ("BOM twice (files concatenated)", "\ufeff\ufeff" + HEADER + ROW, 1, "unexpected column '\\ufeffclean_tweet'"),
    ("unquoted comma in the text", HEADER + "acme, inc patches it,1,B-ORG I-ORG O O,1,0,0\n", 2,
     "expected 6 fields, got 7 (an unquoted comma in the text?)"),
    ("unterminated quote", HEADER + ROW + '"acme patches it,1,B-ORG O O,1,0,0\n', 3, "malformed CSV"),
    ("header only", HEADER, 2, "no data rows after the header"),
]


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)  # no newline translation
    return path


@pytest.mark.parametrize(("content", "line", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_train_cli_rejects_the_file_in_one_line(tmp_path, content, line, problem) -> None:
    data = write(tmp_path / "tweets.csv", content)
    out = tmp_path / "models"
    r = subprocess.run([sys.executable, "-m", "tweetner.train", "--data", str(data), "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert r.stderr.endswith("\n") and r.stderr.count("\n") == 1, r.stderr
    prefix = f"error: {data}:{line}: "
    assert r.stderr.startswith(prefix) and problem in r.stderr[len(prefix):], r.stderr
    assert not out.exists()  # failed before anything was trained or written


def test_bad_data_fails_before_tensorflow_is_imported(tmp_path) -> None:
    # The same entry point as `python -m tweetner.train`, wrapped to report whether TensorFlow got imported.
    data = write(tmp_path / "tweets.csv", HEADER + ROW + "acme router,1,B-ORG B-DEVICE,0,1,0\n")
    code = ("import sys\nfrom tweetner import train\nrc = train.main(sys.argv[1:])\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)\nsys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "--data", str(data), "--out", str(tmp_path / "models")],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith(f"error: {data}:3: unknown tag 'B-DEVICE'")
    assert r.stdout.split() == ["False", "False"]
