"""`python -m tweetner.predict IN OUT`: one raw tweet per input line -> one prediction per output line.

Whatever a line holds (nothing, whitespace, invalid UTF-8, NUL and control characters, thousands of words) it gets
exactly one output line, and the tag count always equals the token count of the cleaned tweet. Only "\\n" ends a
line (a "\\r" before it is dropped); other line-break characters inside a line are just characters.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import IO, Iterable, Iterator, Sequence

from tweetner.modeldir import ModelDirError, resolve_model

_WORD_RUN = re.compile(r"[A-Za-z0-9.:_-]+")
CHUNK = 8192  # lines read, sorted by length and predicted together (bounds memory on endless streams)
TOKEN_BUDGET = 32768  # padded tokens per batch, so one enormous line does not blow up a whole batch


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tweetner.predict",
        description=(
            "Predict relevance and IOB entity tags for raw tweets, one per line. Writes one line per input line: "
            "'<0|1><TAB><tags>' (tags on relevant tweets; --all-tags for every tweet), or JSON lines with "
            "--format jsonl. Use - for stdin/stdout."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("input", help="text file with one raw tweet per line, or - for standard input")
    p.add_argument("output", help="file to write the predictions to, or - for standard output")
    p.add_argument("--model", default=None,
                   help="a SavedModel version folder, a model folder holding numbered versions (the newest is "
                        "used) or a folder of models such as saved_models/ (default: the shipped saved_models/, "
                        "or $TWEETNER_MODEL)")
    p.add_argument("--case", choices=("A", "B", "C"), default=None,
                   help="use that case study's model (NAME_A ...) when per-case models exist beside the joint one")
    p.add_argument("--format", choices=("tsv", "jsonl"), default="tsv",
                   help="tsv: the competition/evaluate format; jsonl: probability, tokens, tags and entity spans")
    p.add_argument("--all-tags", action="store_true", help="write tags for tweets predicted irrelevant too (tsv)")
    p.add_argument("--batch-size", type=int, default=512, help="tweets per batch")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary on stderr")
    return p


def read_lines(stream: IO[bytes]) -> Iterator[str]:
    """Yields each line of a binary stream as text: split on b"\\n" only, a trailing "\\r" dropped, invalid UTF-8
    replaced. An empty stream yields nothing; a final line without newline is still a line."""
    for raw in stream:  # binary iteration splits on b"\n" only
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        yield raw.decode("utf-8", errors="replace")


def chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def length_batches(lines: Sequence[str], batch_size: int) -> Iterator[list[int]]:
    """Index batches of similar length (by a cheap word count) within a token budget."""
    # Runs of the characters cleaning keeps bound the token count from above ("&amp;" * 2000 is one
    # whitespace word but 2000 tokens), so the budget holds after cleaning too.
    est = [len(_WORD_RUN.findall(s)) + 1 for s in lines]
    order = sorted(range(len(lines)), key=est.__getitem__)
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * est[i] > TOKEN_BUDGET):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


class Predictor:
    """Runs an exported SavedModel on raw tweets, in length-sorted batches.

    Args:
        directory: the SavedModel version folder.
        batch_size: tweets per batch.
    """

    def __init__(self, directory: Path, batch_size: int = 512):
        from tweetner.serving import load_serving

        self.directory = Path(directory)
        self.serve = load_serving(self.directory)
        self.batch_size = batch_size

    def predict(self, lines: Sequence[str]) -> list[dict]:
        """Predicts for each line; returns, in input order, dicts with relevant, probability, tokens and tags."""
        import tensorflow as tf

        results: list[dict] = [{}] * len(lines)
        for idx in length_batches(lines, self.batch_size):
            out = self.serve(tf.constant([lines[i] for i in idx], tf.string))
            probs, rel, lengths = out["probability"].numpy(), out["relevant"].numpy(), out["lengths"].numpy()
            tokens, tags = out["tokens"].numpy(), out["tags"].numpy()
            for row, i in enumerate(idx):
                n = int(lengths[row])
                results[i] = {
                    "relevant": int(rel[row]),
                    "probability": float(probs[row]),
                    "tokens": [t.decode("utf-8") for t in tokens[row, :n]],
                    "tags": [t.decode("utf-8") for t in tags[row, :n]],
                }
        return results


def format_line(result: dict, fmt: str, all_tags: bool) -> str:
    """One output line (without newline) for one prediction."""
    if fmt == "jsonl":
        from tweetner.metrics import iob_spans

        entities = [{"type": t, "text": " ".join(result["tokens"][s:e]), "start": s, "end": e}
                    for t, s, e in iob_spans(result["tags"])]
        return json.dumps({**result, "probability": round(result["probability"], 6), "entities": entities},
                          ensure_ascii=False)
    if result["relevant"] or all_tags:
        return f"{result['relevant']}\t{' '.join(result['tags'])}"
    return str(result["relevant"])


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        return _error(f"--batch-size must be >= 1, got {args.batch_size}")
    try:
        directory = resolve_model(args.model, args.case)
    except ModelDirError as e:
        return _error(str(e))
    if args.input != "-" and not Path(args.input).is_file():
        return _error(f"{args.input}: no such input file")
    if args.output != "-" and not Path(args.output).resolve().parent.is_dir():
        return _error(f"{args.output}: the folder to write it in does not exist")
    from tweetner.quiet import silence_native_stderr

    silence_native_stderr()
    start = time.time()
    try:
        predictor = Predictor(directory, args.batch_size)
    except Exception as e:  # a corrupt SavedModel: say which, without a traceback
        return _error(f"{directory}: cannot load the model ({type(e).__name__}: {str(e).splitlines()[0][:200]})")
    total = None
    if args.input != "-":
        size = Path(args.input).stat().st_size
        total = size if size > 1_000_000 else None
    progress = not args.quiet and (total is not None or args.input == "-")
    src = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    dst = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8", newline="\n")
    n = 0
    try:
        for chunk in chunks(read_lines(src), CHUNK):
            results = predictor.predict(chunk)
            dst.write("".join(format_line(r, args.format, args.all_tags) + "\n" for r in results))
            n += len(chunk)
            if progress and n >= 4 * CHUNK:
                done = f" ({src.tell() / total:.0%})" if total else ""
                print(f"\r{n} tweets{done}, {n / (time.time() - start):.0f}/s", end="", file=sys.stderr, flush=True)
        dst.flush()
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        return 0
    finally:
        if src is not sys.stdin.buffer:
            src.close()
        if dst is not sys.stdout:
            dst.close()
    if not args.quiet:
        print(f"\r{n} tweets predicted in {time.time() - start:.1f}s with {directory}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
