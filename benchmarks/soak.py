"""Soak benchmark: stream many synthetic tweets through the predict CLI and check that nothing is lost.

``python -m benchmarks.soak [--n 1000000] [--model DIR] [--seed S] [--json]`` runs two processes joined by pipes::

    python -m benchmarks.gen_tweets N --seed S  ->  (this process counts lines)  ->  python -m tweetner.predict - -

so no temporary file holds the input or the output; this process copies the generator's bytes into the predictor,
counting lines as they pass, and counts the predictor's output lines while it reads them. At the end it reports the
input and output line counts (they must be equal: one prediction per input line, whatever the line holds), the wall
time from start to the predictor's exit (model loading included), the time to the first prediction, the throughput
and the predictor's peak resident memory (its own ``ru_maxrss`` from ``wait4``, the kernel's high-water mark, which
catches peaks that polling would miss).

The exit code is 0 when the counts match and the predictor succeeded, 1 otherwise, and 2 for bad arguments (an
``error: ...`` line on stderr). TensorFlow is never imported here: it runs in the predictor process only.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Sequence

from benchmarks.gen_tweets import DEFAULT_SEED

REPO = Path(__file__).resolve().parents[1]
PIPE_BLOCK = 1 << 16  # bytes copied per read: large enough to keep system calls cheap


def _copy_counting(src: IO[bytes], dst: IO[bytes], counts: dict[str, int]) -> None:
    """Copies `src` into `dst`, counting b"\\n" and the bytes, then closes `dst` so the reader sees end of input.

    Runs in its own thread: the main thread must drain the predictor's stdout at the same time, or both pipes fill
    up and the three processes wait on each other for ever.
    """
    last = b"\n"
    try:
        while block := src.read(PIPE_BLOCK):
            counts["newlines"] += block.count(b"\n")
            counts["bytes"] += len(block)
            last = block[-1:]
            dst.write(block)
    except BrokenPipeError:  # the predictor died; its exit code tells the story
        counts["broken_pipe"] = 1
    finally:
        counts["unterminated"] = int(last != b"\n")
        try:
            dst.close()
        except BrokenPipeError:
            pass


def _tail(stream: IO[bytes], keep: list[bytes], limit: int = 4096) -> None:
    """Drains `stream` (the predictor's stderr), keeping its last `limit` bytes for error messages."""
    buf = b""
    while block := stream.read(PIPE_BLOCK):
        buf = (buf + block)[-limit:]
    keep.append(buf)


def _wait_with_rusage(proc: subprocess.Popen) -> tuple[int, float]:
    """Waits for `proc` and returns (exit code, peak RSS in MB) from that child's own resource usage.

    os.wait4 gives the rusage of exactly this child (RUSAGE_CHILDREN would mix in the generator). Popen is told the
    exit code so that it does not try to reap the process a second time.
    """
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024  # Linux reports kilobytes


def soak(n: int, model: str | None, seed: int = DEFAULT_SEED, batch_size: int | None = None) -> dict:
    """Runs the generator -> predictor pipeline on `n` tweets and measures it.

    Args:
        n: number of synthetic tweets.
        model: the --model argument for the predictor (None: its default).
        seed: generator seed.
        batch_size: the predictor's --batch-size (None: its default).

    Returns:
        A dict with input_lines, output_lines, equal, seconds (wall, start-up included), first_output_seconds,
        tweets_per_second (overall), steady_tweets_per_second (after the first output, None when all output came
        at once), peak_rss_mb, input_bytes, returncode and generator_returncode (exit codes), and error (the
        predictor's last stderr line when it failed, else "").
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    predict_cmd = [sys.executable, "-m", "tweetner.predict", "-", "-", "-q"]
    if model is not None:
        predict_cmd += ["--model", str(model)]
    if batch_size is not None:
        predict_cmd += ["--batch-size", str(batch_size)]
    start = time.perf_counter()
    gen = subprocess.Popen([sys.executable, "-m", "benchmarks.gen_tweets", str(n), "--seed", str(seed)],
                           stdout=subprocess.PIPE, cwd=REPO, env=env)
    pred = subprocess.Popen(predict_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=REPO, env=env)
    counts = {"newlines": 0, "bytes": 0, "unterminated": 0, "broken_pipe": 0}
    err_tail: list[bytes] = []
    feeder = threading.Thread(target=_copy_counting, args=(gen.stdout, pred.stdin, counts), daemon=True)
    drainer = threading.Thread(target=_tail, args=(pred.stderr, err_tail), daemon=True)
    feeder.start()
    drainer.start()

    output_lines = 0
    first_output = None  # (seconds, lines) when the first block of predictions arrived
    while block := pred.stdout.read1(PIPE_BLOCK):
        output_lines += block.count(b"\n")
        if first_output is None:
            first_output = (time.perf_counter() - start, output_lines)
    last_output = time.perf_counter() - start
    returncode, peak_mb = _wait_with_rusage(pred)
    seconds = time.perf_counter() - start
    feeder.join()
    drainer.join()
    if gen.poll() is None:  # the predictor failed early: the generator is blocked on a full pipe
        gen.kill()
    gen.wait()
    gen.stdout.close()
    pred.stdout.close()

    input_lines = counts["newlines"] + counts["unterminated"]
    # The steady rate leaves out start-up (TensorFlow import, model loading) and the first chunk; it needs output
    # spread over more than one chunk of the predictor, so small runs have none.
    steady = None
    if first_output is not None and last_output > first_output[0] and output_lines > first_output[1]:
        steady = round((output_lines - first_output[1]) / (last_output - first_output[0]), 1)
    stderr_lines = b"".join(err_tail).decode("utf-8", errors="replace").strip().splitlines()
    return {
        "input_lines": input_lines,
        "output_lines": output_lines,
        "equal": input_lines == output_lines,
        "seconds": round(seconds, 3),
        "first_output_seconds": None if first_output is None else round(first_output[0], 3),
        "tweets_per_second": round(output_lines / seconds, 1) if seconds > 0 else None,
        "steady_tweets_per_second": steady,
        "peak_rss_mb": round(peak_mb, 1),
        "input_bytes": counts["bytes"],
        "returncode": returncode,
        "generator_returncode": gen.returncode,
        # TensorFlow logs notices on stderr even when all goes well, so only a failure's last line is kept.
        "error": (stderr_lines[-1] if stderr_lines else "no message") if returncode != 0 else "",
    }


def format_report(r: dict) -> str:
    """The human-readable report, one measure per line."""
    first = "-" if r["first_output_seconds"] is None else f"{r['first_output_seconds']:.1f} s"
    lines = [
        f"input lines:        {r['input_lines']}",
        f"output lines:       {r['output_lines']}",
        f"equal:              {'yes' if r['equal'] else 'NO'}",
        f"seconds:            {r['seconds']:.1f} (first prediction after {first}, model loading included)",
        f"tweets/s:           {r['tweets_per_second']} overall, "
        f"{'-' if r['steady_tweets_per_second'] is None else r['steady_tweets_per_second']} after the first chunk",
        f"peak RSS MB:        {r['peak_rss_mb']:.0f} (predict process)",
        f"input MB:           {r['input_bytes'] / 1e6:.1f}",
    ]
    if r["returncode"] != 0:
        lines.append(f"predict exit code:  {r['returncode']} ({r['error']})")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description=(
            "Pipe N synthetic raw tweets (benchmarks.gen_tweets, about 1% of them hostile) through "
            "'python -m tweetner.predict - -' and report input and output line counts (they must match), wall "
            "time, throughput and the predictor's peak resident memory. Exit code 0 when the counts match and the "
            "predictor succeeded, 1 otherwise."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--n", type=int, default=1_000_000, help="number of tweets to stream")
    p.add_argument("--model", default=None,
                   help="model folder for the predictor (a SavedModel version, a model or a models root; default: "
                        "the predictor's own default)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    p.add_argument("--batch-size", type=int, default=None, help="the predictor's --batch-size (default: its own)")
    p.add_argument("--json", action="store_true", help="print the measures as one JSON object instead of the report")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n < 0:
        print(f"error: --n must be 0 or more, got {args.n}", file=sys.stderr)
        return 2
    if args.model is not None and not Path(args.model).exists():
        print(f"error: {args.model}: no such model folder", file=sys.stderr)
        return 2
    result = soak(args.n, args.model, args.seed, args.batch_size)
    print(json.dumps(result) if args.json else format_report(result))
    return 0 if result["equal"] and result["returncode"] == 0 and result["input_lines"] == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
