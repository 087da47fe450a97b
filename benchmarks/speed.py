"""Speed benchmark: training time per epoch, predict throughput, end-to-end CLI time, cold start, peak memory,
and how close predict comes to the model's arithmetic bound on this CPU.

    python -m benchmarks.speed [--model DIR] [--data PATH] [--n 10000] [--json OUT]

Tweets come from the training file (read at run time, written only to a temporary folder). Numbers are wall-clock
seconds on this machine; run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from benchmarks.baselines import DEFAULT_DATA


IMPORT_PROBE = (
    "import time; t = time.perf_counter(); from tweetner.serving import import_tensorflow; import_tensorflow(); "
    "print(time.perf_counter() - t)"
)


def cpu_peak_gflops() -> dict[str, Any]:
    """Single-precision peak of this CPU from /proc/cpuinfo: cores x GHz x FLOPs per cycle (FMA on the widest
    vector unit; one FMA port assumed for AVX-512, two for AVX2, which is what most server parts have)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(re.search(r"^flags\s*:(.*)$", info, re.M).group(1).split()) if "flags" in info else set()
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M)]
    ghz = (statistics.fmean(mhz) / 1000) if mhz else 2.0
    cores = os.cpu_count() or 1
    if "avx512f" in flags:
        per_cycle, unit = 64, "AVX-512 FMA (1 port): 16 lanes x 2 x 2"
    elif "avx2" in flags and "fma" in flags:
        per_cycle, unit = 32, "AVX2 FMA (2 ports): 8 lanes x 2 x 2"
    else:
        per_cycle, unit = 8, "SSE"
    return {"cores": cores, "ghz": round(ghz, 3), "flops_per_cycle": per_cycle, "unit": unit,
            "peak_gflops": cores * ghz * per_cycle}


def flops_per_tweet(config: dict[str, Any], tokens: float, chars: float) -> float:
    """Multiply-adds x 2 of one tweet through the network at the given mean token count and padded word width."""
    m = config["model"]
    u, n = m["lstm_units"], len(m["tags"])
    d_in = m["word_dim"] + (m["char_filters"] if m["use_chars"] else 0)
    per_token = 0.0
    if m["use_chars"]:
        per_token += 2 * chars * m["char_kernel"] * m["char_dim"] * m["char_filters"]
    per_token += 2 * 2 * 4 * u * (d_in + u)  # two directions, four gates, input and recurrent matrices
    per_token += 2 * 2 * u * n + 2 * n * n  # emissions, Viterbi
    head = 2 * 4 * u * m["relevance_hidden"] + 2 * m["relevance_hidden"]
    return per_token * tokens + head


def _rss_mb(ru_maxrss_kb: float) -> float:
    return ru_maxrss_kb / 1024


def run(model: Path, data: Path, n: int) -> dict[str, Any]:
    from tweetner import data as tdata
    from tweetner.modeldir import resolve_model
    from tweetner.predict import Predictor

    version = resolve_model(model)
    examples, _ = tdata.load_csv(data)
    texts = [e.text for e in examples[:n]]
    tmp = Path(tempfile.mkdtemp(prefix="tweetner-speed-"))
    src = tmp / "in.txt"
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    result: dict[str, Any] = {"model": str(version), "tweets": len(texts)}

    # Cold start: launch to the first prediction line on stdout (one tweet on stdin), and to process exit; best of 3.
    first, done = [], []
    for _ in range(3):
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "tweetner.predict", "-", "-", "--model", str(version), "-q"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        proc.stdin.write((texts[0] + "\n").encode())
        proc.stdin.close()
        proc.stdout.readline()
        first.append(time.perf_counter() - start)
        proc.wait()
        done.append(time.perf_counter() - start)
    result["cold_start_s"], result["cold_exit_s"] = min(first), min(done)
    tf_import = [float(subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True,
                                      check=True).stdout) for _ in range(3)]
    result["tensorflow_import_s"] = min(tf_import)

    # End to end over the file (start-up included), best of 3, with the child's peak memory.
    e2e = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tweetner.predict", str(src), str(tmp / "out.tsv"), "--model",
                        str(version), "-q"], check=True)
        e2e.append(time.perf_counter() - start)
    result["cli_end_to_end_s"] = min(e2e)
    result["cli_peak_rss_mb"] = _rss_mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    lines = (tmp / "out.tsv").read_text().count("\n")
    result["cli_output_lines"] = lines

    # Steady state in process: the same Predictor the CLI uses, after a warm-up pass.
    predictor = Predictor(version)
    predictor.predict(texts)
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        predictor.predict(texts)
        runs.append(time.perf_counter() - start)
    result["steady_tweets_per_s"] = len(texts) / min(runs)

    # Arithmetic bound at real lengths.
    config = json.loads((version / "assets.extra" / "tweetner" / "config.json").read_text())
    tokens = statistics.fmean(len(t.split()) for t in texts)
    chars = min(config["model"]["max_word_len"], max(len(w) for t in texts[:512] for w in t.split()))
    flops = flops_per_tweet(config, tokens, chars)
    cpu = cpu_peak_gflops()
    bound = cpu["peak_gflops"] * 1e9 / flops
    result.update({"mean_tokens": tokens, "char_width": chars, "mflops_per_tweet": flops / 1e6, "cpu": cpu,
                   "bound_tweets_per_s": bound, "fraction_of_bound": result["steady_tweets_per_s"] / bound})

    history = json.loads((version / "assets.extra" / "tweetner" / "validation.json").read_text())["history"]
    result["train_epoch_s"] = statistics.median(h["train_seconds"] for h in history)
    result["train_epochs"] = len(history)
    result["train_rows"] = json.loads((version / "assets.extra" / "tweetner" / "validation.json").read_text())[
        "train_rows"]
    return result


def format_report(r: dict[str, Any]) -> str:
    c = r["cpu"]
    return "\n".join([
        f"model: {r['model']}",
        f"training: {r['train_epoch_s']:.1f} s per epoch (median of {r['train_epochs']}) on {r['train_rows']} tweets",
        f"predict, steady state in process: {r['steady_tweets_per_s']:.0f} tweets/s",
        f"predict CLI end to end over {r['tweets']} tweets (start-up included): {r['cli_end_to_end_s']:.2f} s, "
        f"peak RSS {r['cli_peak_rss_mb']:.0f} MB, {r['cli_output_lines']} output lines",
        f"cold start: first prediction line {r['cold_start_s']:.2f} s after launch (process exit at "
        f"{r['cold_exit_s']:.2f} s); of which importing TensorFlow alone: {r['tensorflow_import_s']:.2f} s",
        f"arithmetic: {r['mflops_per_tweet']:.2f} MFLOP per tweet at {r['mean_tokens']:.1f} tokens and character "
        f"width {r['char_width']}; CPU peak {c['peak_gflops']:.0f} GFLOP/s ({c['cores']} cores x {c['ghz']} GHz x "
        f"{c['flops_per_cycle']} FLOP/cycle, {c['unit']}) -> bound {r['bound_tweets_per_s']:.0f} tweets/s; "
        f"we reach {r['fraction_of_bound']:.1%} of it",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where the tweets come from")
    p.add_argument("--n", type=int, default=10000, help="tweets per pass")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    from tweetner.quiet import silence_native_stderr

    silence_native_stderr()
    r = run(args.model, args.data, args.n)
    print(format_report(r))
    if args.json:
        args.json.write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
