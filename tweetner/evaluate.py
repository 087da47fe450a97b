"""Score a prediction file against a gold competition CSV: ``python -m tweetner.evaluate``.

The prediction file has one line per gold row, in the same order: the
relevance label (0 or 1), then a TAB and the space-separated IOB tags, one per
word of the tweet. Tags may be left out on a line predicted 0 (such a tweet
counts as all O). This is the format ``python -m tweetner.predict`` writes.

No TensorFlow here: scoring runs wherever the package installs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tweetner.data import TAGS, DataError, load_csv
from tweetner.metrics import competition_scores, format_table

_VALID_TAGS = frozenset(TAGS)


class PredictionError(DataError):
    """A prediction file that cannot be read, located to its line (same fields and message as DataError).

    Attributes:
        path: the prediction file.
        line: 1-based line number (0 when the problem concerns the whole file).
        problem: what is wrong, in words.
    """


def parse_prediction_line(text: str) -> tuple[int, tuple[str, ...] | None]:
    """Parses one prediction line (without its line ending).

    Args:
        text: ``"<0|1>"`` optionally followed by a TAB and space-separated tags.

    Returns:
        (label, tags): tags is None when the line has none and is labelled 0
        (the tweet counts as all O); a line labelled 1 without tags gives ``()``,
        which the scorer pads with O and counts as misaligned when the tweet
        has words, since the format requires tags on lines predicted 1.

    Raises:
        ValueError: for a label other than 0/1 or a tag outside the tag set;
            the message says which.
    """
    label_text, _, tag_text = text.partition("\t")
    label_text = label_text.strip(" ")
    if label_text not in ("0", "1"):
        shown = "empty line" if not text.strip() else f"label {label_text!r}"
        raise ValueError(f"{shown}: expected 0 or 1, then a TAB and the space-separated tags")
    label = int(label_text)
    tags = tag_text.split()
    for position, tag in enumerate(tags, start=1):
        if tag not in _VALID_TAGS:
            raise ValueError(f"unknown tag {tag!r} (word {position}); expected one of {' '.join(TAGS)}")
    if not tags:
        return label, (None if label == 0 else ())
    return label, tuple(tags)


def read_predictions(
    path: str | Path, expected: int | None = None
) -> tuple[list[int], list[tuple[str, ...] | None]]:
    """Reads a prediction file.

    CRLF line endings, a UTF-8 byte-order mark and a final newline are
    accepted; every other line must parse (see :func:`parse_prediction_line`).

    Args:
        path: the prediction file.
        expected: number of lines required (the gold row count), or None.

    Returns:
        (labels, tags): shapes [n] and [n][length_i or None], in file order.

    Raises:
        PredictionError: unreadable file, wrong line count, bad label or
            unknown tag, naming the line.
        OSError: if the file cannot be opened.
    """
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise PredictionError(path, line, f"not UTF-8 text (byte {data[err.start]:#04x})") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line rather than starting a new one
    if expected is not None and len(lines) != expected:
        if len(lines) < expected:
            raise PredictionError(
                path, len(lines) + 1,
                f"missing predictions: the file has {len(lines)} lines but the gold file has {expected} rows "
                "(one line per row is needed)",
            )
        raise PredictionError(
            path, expected + 1,
            f"extra lines: the file has {len(lines)} lines but the gold file has only {expected} rows",
        )
    labels: list[int] = []
    tags: list[tuple[str, ...] | None] = []
    for number, raw in enumerate(lines, start=1):
        try:
            label, line_tags = parse_prediction_line(raw.removesuffix("\r"))
        except ValueError as err:
            raise PredictionError(path, number, str(err)) from None
        labels.append(label)
        tags.append(line_tags)
    return labels, tags


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tweetner.evaluate",
        description=(
            "Score predictions the way the MLCS 2019 competition does. For each case study "
            "(A, B, C when the gold file flags them, else one study named 'all'): relevance "
            "TPR, TNR and F1 = 2*TPR*TNR/(TPR+TNR) on its tweets, and NER precision/recall F1 on "
            "its gold-relevant tweets, at entity level (conlleval chunks) and token level, read "
            "two ways: 'headline' scores the predicted tags whatever the predicted label, "
            "'pipeline' counts tweets predicted 0 as all O. Scores are then averaged over the "
            "case studies, and the tie-break distance to (1, 1) is given."
        ),
        epilog=(
            "Errors (missing file, wrong number of lines, bad label or tag) are reported as one "
            "line naming the file and line, with exit status 2. Predictions whose tag count "
            "differs from the tweet's word count are padded with O or truncated, and counted in "
            "a warning on stderr."
        ),
    )
    parser.add_argument("gold", type=Path, help="gold competition CSV (clean_tweet,relevant,entities[,A,B,C])")
    parser.add_argument(
        "predictions", type=Path,
        help="prediction file: one line per gold row, '<0|1>' then a TAB and the space-separated IOB "
             "tags (tags may be omitted on lines predicted 0)",
    )
    parser.add_argument("--json", action="store_true", help="print every score as JSON instead of the table")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0, or 2 on bad input)."""
    args = _parser().parse_args(argv)
    for path in (args.gold, args.predictions):
        if not path.is_file():
            print(f"{path}: {'is a directory' if path.is_dir() else 'no such file'}", file=sys.stderr)
            return 2
    try:
        # Every gold row is kept (no dedupe, no skipping): prediction lines align with rows one to one.
        examples, _ = load_csv(args.gold, dedupe=False, skip_invalid=False)
        labels, tags = read_predictions(args.predictions, expected=len(examples))
        scores = competition_scores(examples, labels, tags)
    except (DataError, PredictionError) as err:
        print(err, file=sys.stderr)
        return 2
    except UnicodeDecodeError as err:
        print(f"{args.gold}: not UTF-8 text ({err.reason} at byte {err.start})", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"{err.filename}: cannot read: {err.strerror}", file=sys.stderr)
        return 2

    misaligned = [
        number
        for number, (example, line_tags) in enumerate(zip(examples, tags), start=1)
        if line_tags is not None and len(line_tags) != len(example.tokens)
    ]
    if misaligned:
        print(
            f"warning: {args.predictions}: {len(misaligned)} lines have a tag count different from "
            f"their tweet's word count (first: line {misaligned[0]}); they were padded with O or truncated",
            file=sys.stderr,
        )
    try:
        print(json.dumps(scores, indent=2) if args.json else format_table(scores))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (e.g. `| head`) left early: not an error worth a traceback. Point stdout at
        # devnull so that the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
