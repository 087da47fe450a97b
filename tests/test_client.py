"""The REST client against a stub server on 127.0.0.1: request shape, response parsing, and every failure as one line.

The stub answers like TF Serving's predict API for a made-up rule (a token starting with "CVE-" is B-ID and makes
the tweet relevant), so the tests need no model and no TensorFlow.
"""
from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest

from tweetner import client

REPO = Path(__file__).resolve().parents[1]


def fake_outputs(tweets: list[str]) -> dict[str, list]:
    """What a tweetner signature returns for `tweets`, columnar and padded, under the made-up rule."""
    tokens = [t.split() for t in tweets]
    width = max([1, *map(len, tokens)])  # like the signature: T >= 1 even when every tweet is empty
    tags = [["B-ID" if w.startswith("CVE-") else "O" for w in ws] for ws in tokens]
    relevant = [int("B-ID" in ts) for ts in tags]
    return {
        "probability": [0.875 if r else 0.125 for r in relevant],
        "relevant": relevant,
        "tokens": [ws + [""] * (width - len(ws)) for ws in tokens],
        "tags": [ts + [""] * (width - len(ts)) for ts in tags],
        "lengths": [len(ws) for ws in tokens],
    }


def expected_results(tweets: list[str]) -> list[dict]:
    out = fake_outputs(tweets)
    return [{"relevant": out["relevant"][i], "probability": out["probability"][i],
             "tokens": out["tokens"][i][: out["lengths"][i]], "tags": out["tags"][i][: out["lengths"][i]]}
            for i in range(len(tweets))]


def serving_reply(path: str, body: bytes) -> tuple[int, bytes]:
    """A well-behaved server: row or columnar, any model name."""
    request = json.loads(body)
    if "instances" in request:
        out = fake_outputs(request["instances"])
        rows = [{k: v[i] for k, v in out.items()} for i in range(len(request["instances"]))]
        return 200, json.dumps({"predictions": rows}).encode()
    return 200, json.dumps({"outputs": fake_outputs(request["inputs"]["tweets"])}).encode()


class Stub:
    """A tiny HTTP server whose POST answers come from `reply(path, body) -> (status, body)`; records requests."""

    def __init__(self):
        self.reply: Callable[[str, bytes], tuple[int, bytes]] = serving_reply
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.requests.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                      "body": body})
                status, answer = stub.reply(self.path, body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except ConnectionError:  # the client gave up waiting (timeout test)
                    pass

            def log_message(self, *args):  # keep pytest output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    s = Stub()
    yield s
    s.close()


@pytest.fixture
def tweets_file(tmp_path) -> tuple[Path, list[str]]:
    lines = [
        "CVE-2031-1234 found in the frobnicator daemon",
        "",
        "lunch was fine today",
        "   ",
        "patch CVE-2031-0001 and CVE-2031-0002 before friday please everyone",
        "short",
        "café crème brûlée",
    ]
    path = tmp_path / "tweets.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


def run(argv: list[str], capsys) -> tuple[int, str]:
    rc = client.main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def free_port() -> int:
    """A port nobody listens on: bound, read, closed (nothing can claim it in between on 127.0.0.1 in practice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- success paths -------------------------------------------------------------------------------------------------

def test_tsv_output_and_request_shape(stub, tweets_file, tmp_path, capsys):
    path, lines = tweets_file
    out = tmp_path / "pred.tsv"
    rc, err = run([path, out, "--url", stub.url, "--batch-size", "3", "-q"], capsys)
    assert rc == 0, err
    want = [client.format_line(r, "tsv", False) for r in expected_results(lines)]
    assert out.read_text(encoding="utf-8").split("\n") == [*want, ""]
    assert out.read_text(encoding="utf-8").startswith("1\tB-ID O O O O O\n0\n0\n")
    # Batched: every line sent exactly once, at most 3 a request, as the row-format predict call.
    sent = []
    for req in stub.requests:
        assert req["path"] == "/v1/models/tweetner:predict"
        assert req["content_type"] == "application/json"
        body = json.loads(req["body"])
        assert body["signature_name"] == "serving_default" and set(body) == {"signature_name", "instances"}
        assert 1 <= len(body["instances"]) <= 3
        sent += body["instances"]
    assert sorted(sent) == sorted(lines)
    assert len(stub.requests) == 3


def test_jsonl_cuts_padding_to_lengths(stub, tweets_file, tmp_path, capsys):
    path, lines = tweets_file
    out = tmp_path / "pred.jsonl"
    assert run([path, out, "--url", stub.url, "--format", "jsonl", "-q"], capsys)[0] == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["tokens"] for r in rows] == [line.split() for line in lines]  # no "" padding left
    assert [len(r["tags"]) for r in rows] == [len(line.split()) for line in lines]
    assert rows[4]["entities"] == [{"type": "ID", "text": "CVE-2031-0001", "start": 1, "end": 2},
                                   {"type": "ID", "text": "CVE-2031-0002", "start": 3, "end": 4}]
    assert rows[6]["tokens"] == ["café", "crème", "brûlée"]


def test_columnar_gives_the_same_output(stub, tweets_file, tmp_path, capsys):
    path, _ = tweets_file
    row, col = tmp_path / "row.tsv", tmp_path / "col.tsv"
    assert run([path, row, "--url", stub.url, "--all-tags", "-q"], capsys)[0] == 0
    n = len(stub.requests)
    assert run([path, col, "--url", stub.url, "--all-tags", "--columnar", "-q"], capsys)[0] == 0
    body = json.loads(stub.requests[n]["body"])
    assert set(body) == {"signature_name", "inputs"} and set(body["inputs"]) == {"tweets"}
    assert col.read_bytes() == row.read_bytes()
    assert "0\tO O O" in row.read_text(encoding="utf-8")  # --all-tags: tags on irrelevant tweets too


def test_model_name_and_version_in_the_path(stub, tweets_file, tmp_path, capsys):
    path, _ = tweets_file
    rc, err = run([path, tmp_path / "o.tsv", "--url", stub.url + "/", "--model", "tweetner_B",
                   "--model-version", "3"], capsys)
    assert rc == 0, err
    assert {r["path"] for r in stub.requests} == {"/v1/models/tweetner_B/versions/3:predict"}
    assert f"{len(tweets_file[1])} tweets predicted" in err


def test_stdin_to_stdout(stub, monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a CVE-1 b\r\n\nno")))
    assert client.main(["-", "-", "--url", stub.url, "-q"]) == 0
    assert capsys.readouterr().out == "1\tO B-ID O\n0\n0\n"


def test_empty_input_sends_nothing(stub, tmp_path, capsys):
    src, out = tmp_path / "empty.txt", tmp_path / "o.tsv"
    src.write_bytes(b"")
    assert run([src, out, "--url", stub.url, "-q"], capsys)[0] == 0
    assert out.read_bytes() == b"" and stub.requests == []
    assert client.predict_rest(stub.url, "tweetner", [], 1.0) == [] and stub.requests == []


def test_predict_rest_decodes_b64_and_rounds_to_float32(stub):
    def reply(path, body):
        out = fake_outputs(json.loads(body)["instances"])
        rows = [{k: v[i] for k, v in out.items()} for i in range(len(out["lengths"]))]
        rows[0]["tokens"] = [{"b64": base64.b64encode(t.encode()).decode()} for t in rows[0]["tokens"]]
        rows[0]["probability"] = 0.1  # float32 0.1 written in its shortest form, as a C++ server may
        return 200, json.dumps({"predictions": rows}).encode()

    stub.reply = reply
    got = client.predict_rest(stub.url, "tweetner", ["naïve CVE-9", "x"], timeout=5)
    assert got[0]["tokens"] == ["naïve", "CVE-9"] and got[0]["tags"] == ["O", "B-ID"]
    assert got[0]["probability"] == 0.10000000149011612  # float(np.float32(0.1)), as in-process predict gives
    assert got[1] == expected_results(["x"])[0]
    assert list(got[0]) == ["relevant", "probability", "tokens", "tags"]  # predict's key order (jsonl output)


def test_client_does_not_import_tensorflow(stub, tweets_file, tmp_path):
    path, _ = tweets_file
    out = tmp_path / "o.tsv"
    code = ("import sys; from tweetner import client; "
            f"rc = client.main([{str(path)!r}, {str(out)!r}, '--url', {stub.url!r}, '-q']); "
            "assert 'tensorflow' not in sys.modules, 'client imported tensorflow'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8").startswith("1\tB-ID")


def test_help_explains(capsys):
    proc = subprocess.run([sys.executable, "-m", "tweetner.client", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    for words in ("TF Serving", "--url", "--model", "--columnar", "tweetner.predict", "--timeout"):
        assert words in proc.stdout


# --- failures: exit 2, one line on stderr naming the problem, no traceback, no partial output -----------------------

def assert_one_line(err: str, *needles: str):
    lines = err.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_connection_refused(tweets_file, tmp_path, capsys):
    path, _ = tweets_file
    out = tmp_path / "o.tsv"
    start = time.monotonic()
    rc, err = run([path, out, "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "5"], capsys)
    assert rc == 2 and time.monotonic() - start < 5
    assert_one_line(err, "cannot reach the server", "refused", ":predict")
    assert not out.exists() and list(tmp_path.glob(".o.tsv*")) == []


ERRORS = {
    "404 with TF Serving's error": (
        404, json.dumps({"error": "Servable not found for request: Latest(tweetner)"}).encode(),
        ["HTTP 404", "Servable not found for request: Latest(tweetner)", "tweets.txt:"]),
    "500 with a plain body": (500, b"internal\nboom", ["HTTP 500", "internal boom"]),
    "400 with an empty body": (400, b"", ["HTTP 400", "(empty body)"]),
    "not JSON": (200, b"<html>hello</html>", ["malformed response, not JSON", "<html>hello"]),
    "wrong count": (200, json.dumps({"predictions": []}).encode(), ["0 predictions for 3 tweets"]),
    "no predictions key": (200, json.dumps({"outputs": {}}).encode(), ['no "predictions"', "'outputs'"]),
    "error key in a 200": (200, json.dumps({"error": "odd"}).encode(), ["the server reports: odd"]),
}


@pytest.mark.parametrize("status,body,needles", ERRORS.values(), ids=ERRORS.keys())
def test_http_and_format_errors(stub, tweets_file, tmp_path, capsys, status, body, needles):
    path, _ = tweets_file
    out = tmp_path / "o.tsv"
    out.write_text("previous results\n")
    stub.reply = lambda p, b: (status, body)
    rc, err = run([path, out, "--url", stub.url, "--batch-size", "3"], capsys)
    assert rc == 2
    assert_one_line(err, *needles)
    assert re.search(r"tweets\.txt:\d+: http://127\.0\.0\.1:\d+/v1/models/tweetner:predict: ", err), err
    assert out.read_text() == "previous results\n"  # an existing file is not clobbered by a failed run
    assert list(tmp_path.glob(".o.tsv*")) == []


def _broken(change: Callable[[dict], None]) -> Callable[[str, bytes], tuple[int, bytes]]:
    def reply(path, body):
        out = fake_outputs(json.loads(body)["instances"])
        rows = [{k: v[i] for k, v in out.items()} for i in range(len(out["lengths"]))]
        change(rows[-1])
        return 200, json.dumps({"predictions": rows}).encode()
    return reply


BROKEN_ROWS = {
    "missing tags": (lambda r: r.pop("tags"), "lacks tags"),
    "lengths beyond tokens": (lambda r: r.update(lengths=99), "tokens has"),
    "relevant not 0/1": (lambda r: r.update(relevant=2), "relevant is 2"),
    "probability a string": (lambda r: r.update(probability="high"), "probability is 'high'"),
    "token not a string": (lambda r: r.update(tokens=[7] * len(r["tokens"]), lengths=1), "int where a string"),
    "row not an object": (lambda r: r.clear(), "lacks probability"),
}


@pytest.mark.parametrize("change,needle", BROKEN_ROWS.values(), ids=BROKEN_ROWS.keys())
def test_malformed_predictions(stub, tmp_path, capsys, change, needle):
    src = tmp_path / "in.txt"
    src.write_text("one CVE-1\ntwo\n")
    stub.reply = _broken(change)
    rc, err = run([src, tmp_path / "o.tsv", "--url", stub.url], capsys)
    assert rc == 2
    assert_one_line(err, "malformed response", needle, "in.txt:1:")


def test_timeout_is_bounded(stub, tweets_file, tmp_path, capsys):
    def slow(path, body):
        time.sleep(2)
        return serving_reply(path, body)

    stub.reply = slow
    start = time.monotonic()
    rc, err = run([tweets_file[0], tmp_path / "o.tsv", "--url", stub.url, "--timeout", "0.3"], capsys)
    assert rc == 2 and time.monotonic() - start < 1.8
    assert_one_line(err, "no answer within 0.3 s")


BAD_ARGS = {
    "batch size": (["--batch-size", "0"], "--batch-size must be >= 1"),
    "timeout": (["--timeout", "0"], "--timeout must be > 0"),
    "url scheme": (["--url", "localhost:8501"], "--url must look like http://HOST:PORT"),
    "version": (["--model-version", "0"], "--model-version must be >= 1"),
}


@pytest.mark.parametrize("extra,needle", BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_arguments(tweets_file, tmp_path, capsys, extra, needle):
    rc, err = run([tweets_file[0], tmp_path / "o.tsv", *extra], capsys)
    assert rc == 2
    assert_one_line(err, needle)


def test_bad_paths(tweets_file, tmp_path, capsys):
    rc, err = run([tmp_path / "missing.txt", tmp_path / "o.tsv"], capsys)
    assert rc == 2
    assert_one_line(err, "missing.txt: no such input file")
    rc, err = run([tweets_file[0], tmp_path / "nope" / "o.tsv"], capsys)
    assert rc == 2
    assert_one_line(err, "the folder to write it in does not exist")
    rc, err = run([tweets_file[0], tmp_path], capsys)
    assert rc == 2
    assert_one_line(err, "is a folder")
