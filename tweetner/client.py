"""`python -m tweetner.client IN OUT --url URL --model NAME`: the predict CLI, with the model served by TF Serving.

Reads raw tweets exactly like `python -m tweetner.predict` (one per line, same line rules) and writes the same output
lines, but the SavedModel runs in a TF Serving server (see deploy/) reached over its REST API. The request is the row
format of the predict API,

    POST <url>/v1/models/<model>[/versions/<n>]:predict
    {"signature_name": "serving_default", "instances": ["raw tweet", ...]}

answered by one object per tweet with every output of the signature, the batch dimension removed:

    {"predictions": [{"probability": 0.93, "relevant": 1, "tokens": [...], "tags": [...], "lengths": 7}, ...]}

`tokens` and `tags` are padded to the longest tweet of the request and are cut here to `lengths`. With --columnar the
request is {"signature_name": ..., "inputs": {"tweets": [...]}} and the answer {"outputs": {"probability": [...], ...}}
(one list per output). Only the standard library is used: no TensorFlow, no third-party HTTP package.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import struct
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Sequence

from tweetner.predict import CHUNK, chunks, format_line, length_batches, read_lines

SIGNATURE = "serving_default"
INPUT = "tweets"
OUTPUTS = ("probability", "relevant", "tokens", "tags", "lengths")
DEFAULT_URL = "http://localhost:8501"


class ServingError(Exception):
    """A request that got no usable answer: an HTTP error, a timeout, or an answer unlike the signature's outputs.

    str() is one line naming the endpoint and the problem.
    """


class ServerUnreachable(ServingError):
    """No connection to the server at all (refused, unknown host, no route)."""


def predict_url(url: str, model: str, version: int | None = None) -> str:
    """The REST predict endpoint of `model` (its newest version, or `version`) on the server at `url`."""
    path = f"/v1/models/{urllib.parse.quote(model, safe='')}"
    if version is not None:
        path += f"/versions/{int(version)}"
    return url.rstrip("/") + path + ":predict"


def build_request(tweets: Sequence[str], columnar: bool = False) -> dict:
    """The JSON body of a predict request for raw tweets (row format, or columnar with `columnar`)."""
    if columnar:
        return {"signature_name": SIGNATURE, "inputs": {INPUT: list(tweets)}}
    # The signature has a single input, so each instance may be the bare value instead of {"tweets": value}.
    return {"signature_name": SIGNATURE, "instances": list(tweets)}


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_text(body: bytes) -> str:
    """The server's explanation from an error body: TF Serving sends {"error": "..."}; proxies send HTML or text."""
    text = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        text = parsed["error"]
    return _one_line(text) or "(empty body)"


def post_json(endpoint: str, payload: Any, timeout: float) -> Any:
    """POSTs `payload` as JSON and returns the decoded JSON answer.

    Raises:
        ServerUnreachable: when no connection can be made.
        ServingError: on an HTTP error status (with the server's error text), a timeout, a broken connection or an
            answer that is not JSON.
    """
    # ensure_ascii=False keeps non-ASCII tweets compact; "replace" only matters for lone surrogates, which no
    # decoded file line contains.
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8", errors="replace")
    request = urllib.request.Request(endpoint, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as e:
        try:
            detail = _error_text(e.read())
        except (OSError, http.client.HTTPException):
            detail = "(no readable body)"
        raise ServingError(f"{endpoint}: HTTP {e.code} {e.reason}: {detail}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            raise ServingError(f"{endpoint}: no connection within {timeout:g} s") from None
        reason = getattr(e.reason, "strerror", None) or e.reason
        raise ServerUnreachable(
            f"{endpoint}: cannot reach the server ({reason}); is TF Serving running there (see deploy/README.md)?"
        ) from None
    except TimeoutError:
        raise ServingError(
            f"{endpoint}: no answer within {timeout:g} s (raise --timeout or lower --batch-size)"
        ) from None
    except (http.client.HTTPException, OSError) as e:
        raise ServingError(f"{endpoint}: connection broken ({type(e).__name__}: {_one_line(str(e))})") from None
    try:
        return json.loads(raw)
    except ValueError as e:
        shown = _one_line(raw[:120].decode("utf-8", errors="replace")) or "an empty body"
        raise ServingError(f"{endpoint}: malformed response, not JSON ({e}): {shown}") from None


class _Malformed(Exception):
    """One problem in a response body, turned into a ServingError naming the endpoint."""


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    # TF Serving base64-encodes DT_STRING outputs whose names end in "_bytes"; accept that form anywhere.
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True).decode("utf-8", errors="replace")
        except ValueError:
            raise _Malformed(f"{what} holds invalid base64") from None
    raise _Malformed(f"{what} holds {type(value).__name__} where a string belongs")


def _float32(value: float) -> float:
    """The float32 the server computed: its JSON shortest form re-read as float32, so the value (and hence
    predict's rounded jsonl output) is the one the in-process SavedModel gives."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _result(pred: Any, i: int) -> dict:
    """One prediction object -> {"relevant", "probability", "tokens", "tags"} (predict.Predictor's dicts)."""
    if not isinstance(pred, dict):
        raise _Malformed(
            f"prediction {i} is {type(pred).__name__}, not an object with the outputs {', '.join(OUTPUTS)}"
        )
    missing = [k for k in OUTPUTS if k not in pred]
    if missing:
        raise _Malformed(f"prediction {i} lacks {', '.join(missing)} (is this the tweetner signature?)")
    n, relevant, probability = pred["lengths"], pred["relevant"], pred["probability"]
    tokens, tags = pred["tokens"], pred["tags"]
    if type(n) is not int or n < 0:
        raise _Malformed(f"prediction {i}: lengths is {n!r}, not a count")
    if type(relevant) is not int or relevant not in (0, 1):
        raise _Malformed(f"prediction {i}: relevant is {relevant!r}, not 0 or 1")
    if isinstance(probability, bool) or not isinstance(probability, (int, float)):
        raise _Malformed(f"prediction {i}: probability is {probability!r}, not a number")
    for key, seq in (("tokens", tokens), ("tags", tags)):
        if not isinstance(seq, list) or len(seq) < n:
            size = len(seq) if isinstance(seq, list) else type(seq).__name__
            raise _Malformed(f"prediction {i}: {key} has {size} entries for lengths {n}")
    try:
        probability = _float32(float(probability))
    except OverflowError:
        raise _Malformed(f"prediction {i}: probability {probability!r} is out of range") from None
    return {
        "relevant": relevant,
        "probability": probability,
        "tokens": [_text(t, f"prediction {i}: tokens") for t in tokens[:n]],
        "tags": [_text(t, f"prediction {i}: tags") for t in tags[:n]],
    }


def parse_response(body: Any, count: int, columnar: bool = False) -> list[dict]:
    """Turns a decoded predict answer into one result dict per tweet, in request order.

    Args:
        body: the decoded JSON answer.
        count: number of tweets sent.
        columnar: whether the request used the columnar "inputs" form (answer under "outputs").

    Returns:
        `count` dicts with "relevant" (0/1), "probability" (float), "tokens" and "tags" (lists of str, both cut to
        the tweet's token count) -- the same dicts as `tweetner.predict.Predictor.predict`.

    Raises:
        ServingError: (without endpoint) when the answer does not have that shape or the wrong number of results.
    """
    key = "outputs" if columnar else "predictions"
    try:
        if not isinstance(body, dict) or key not in body:
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                raise _Malformed(f"the server reports: {_one_line(body['error'])}")
            found = ", ".join(map(repr, body)) if isinstance(body, dict) else type(body).__name__
            raise _Malformed(f'no "{key}" in the answer (found {found or "nothing"})')
        rows = body[key]
        if columnar:
            if not isinstance(rows, dict):
                raise _Malformed(f'"outputs" is {type(rows).__name__}, not an object of named outputs')
            missing = [k for k in OUTPUTS if k not in rows]
            if missing:
                raise _Malformed(f'"outputs" lacks {", ".join(missing)} (is this the tweetner signature?)')
            for k in OUTPUTS:
                if not isinstance(rows[k], list) or len(rows[k]) != count:
                    size = len(rows[k]) if isinstance(rows[k], list) else type(rows[k]).__name__
                    raise _Malformed(f"output {k} has {size} entries for {count} tweets")
            rows = [{k: rows[k][j] for k in OUTPUTS} for j in range(count)]
        if not isinstance(rows, list):
            raise _Malformed(f'"predictions" is {type(rows).__name__}, not a list')
        if len(rows) != count:
            raise _Malformed(f"{len(rows)} predictions for {count} tweets")
        return [_result(pred, i) for i, pred in enumerate(rows)]
    except _Malformed as e:
        raise ServingError(f"malformed response: {e}") from None


def predict_rest(url: str, model: str, tweets: Sequence[str], timeout: float = 30.0, *,
                 columnar: bool = False, version: int | None = None) -> list[dict]:
    """Predicts raw tweets with a model served by TF Serving, in one request.

    Args:
        url: the server's REST root, e.g. "http://localhost:8501".
        model: the served model name ("tweetner", "tweetner_A", ...).
        tweets: [B] raw tweets.
        timeout: seconds to wait for the connection and for the answer.
        columnar: send the columnar "inputs" form instead of row "instances".
        version: a specific model version; None for the newest one the server has loaded.

    Returns:
        [B] dicts with "relevant", "probability", "tokens" and "tags", as `tweetner.predict.Predictor.predict` gives.

    Raises:
        ServerUnreachable: when no connection can be made.
        ServingError: on any other failure, with a one-line message naming the endpoint.
    """
    if not tweets:
        return []
    endpoint = predict_url(url, model, version)
    body = post_json(endpoint, build_request(tweets, columnar), timeout)
    try:
        return parse_response(body, len(tweets), columnar)
    except ServingError as e:
        raise ServingError(f"{endpoint}: {e}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tweetner.client",
        description=(
            "Predict relevance and IOB entity tags for raw tweets, one per line, with a model served by TF Serving "
            "(see deploy/README.md). Reads and writes exactly what python -m tweetner.predict does: one line per "
            "input line, '<0|1><TAB><tags>' (tags on relevant tweets; --all-tags for every tweet) or JSON lines with "
            "--format jsonl. Use - for stdin/stdout. An output file is replaced only once every tweet has its "
            "prediction."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("input", help="text file with one raw tweet per line, or - for standard input")
    p.add_argument("output", help="file to write the predictions to, or - for standard output")
    p.add_argument("--url", default=DEFAULT_URL, help="REST root of the TF Serving server (its --rest_api_port)")
    p.add_argument("--model", default="tweetner",
                   help="served model name: tweetner (joint) or tweetner_A/B/C (per case study), as in models.config")
    p.add_argument("--model-version", type=int, default=None,
                   help="ask for this model version instead of the newest one the server has loaded")
    p.add_argument("--format", choices=("tsv", "jsonl"), default="tsv",
                   help="tsv: the competition/evaluate format; jsonl: probability, tokens, tags and entity spans")
    p.add_argument("--all-tags", action="store_true", help="write tags for tweets predicted irrelevant too (tsv)")
    p.add_argument("--batch-size", type=int, default=256, help="tweets per request")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer")
    p.add_argument("--columnar", action="store_true",
                   help='send the columnar {"inputs": ...} request instead of row {"instances": ...}')
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    return p


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _check_args(args: argparse.Namespace) -> str | None:
    """The first problem with the command line, or None."""
    if args.batch_size < 1:
        return f"--batch-size must be >= 1, got {args.batch_size}"
    if not args.timeout > 0:
        return f"--timeout must be > 0 seconds, got {args.timeout:g}"
    parts = urllib.parse.urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"--url must look like http://HOST:PORT, got {args.url!r}"
    if not args.model:
        return "--model must not be empty"
    if args.model_version is not None and args.model_version < 1:
        return f"--model-version must be >= 1, got {args.model_version}"
    if args.input != "-" and not Path(args.input).is_file():
        return f"{args.input}: no such input file"
    if args.output != "-":
        out = Path(args.output)
        if out.is_dir():
            return f"{args.output}: is a folder, not a file to write"
        if not out.resolve().parent.is_dir():
            return f"{args.output}: the folder to write it in does not exist"
    return None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = _check_args(args)
    if problem:
        return _error(problem)
    start = time.time()
    src_name = "<stdin>" if args.input == "-" else args.input
    src = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    out = Path(args.output)
    # A regular output file is written beside itself and renamed when complete, so a server failing halfway leaves
    # no truncated prediction file behind; devices and pipes (e.g. /dev/null) are written in place.
    tmp: Path | None = None
    if args.output == "-":
        dst = sys.stdout
    elif out.exists() and not out.is_file():
        dst = open(out, "w", encoding="utf-8", newline="\n")
    else:
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.partial-", dir=out.resolve().parent)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the result should be an ordinary new file
        dst = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
    n, done = 0, False
    try:
        for chunk in chunks(read_lines(src), CHUNK):
            results: list[dict] = [{}] * len(chunk)
            for idx in length_batches(chunk, args.batch_size):
                try:
                    answers = predict_rest(args.url, args.model, [chunk[i] for i in idx], args.timeout,
                                           columnar=args.columnar, version=args.model_version)
                except ServerUnreachable as e:
                    return _error(str(e))
                except ServingError as e:
                    first = n + min(idx) + 1
                    return _error(f"{src_name}:{first}: {e} (request of {len(idx)} tweets, the first on this line)")
                for i, answer in zip(idx, answers):
                    results[i] = answer
            dst.write("".join(format_line(r, args.format, args.all_tags) + "\n" for r in results))
            n += len(chunk)
        dst.flush()
        done = True
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        return 0
    finally:
        if src is not sys.stdin.buffer:
            src.close()
        if dst is not sys.stdout:
            dst.close()
        if tmp is not None:
            if done:
                os.replace(tmp, out)
            else:
                tmp.unlink(missing_ok=True)
    if not args.quiet:
        endpoint = predict_url(args.url, args.model, args.model_version)
        print(f"{n} tweets predicted in {time.time() - start:.1f}s by {endpoint}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
