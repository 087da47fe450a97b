"""The notebooks: committed executed top to bottom, runnable, and free of tweet text beyond short tokens.

The fast tests read the committed .ipynb files as JSON. The slow tests execute a temporary copy of each
notebook with nbclient (working directory notebooks/, as in normal use) and skip when nbclient,
ipykernel or matplotlib is not installed (``pip install -e ".[notebooks]"``).
"""
from __future__ import annotations

import functools
import html
import json
import re
import shutil
from pathlib import Path
from collections.abc import Iterable, Iterator, Set
from typing import Any

import pytest

from conftest import REPO, TRAIN_CSV

NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = ("01_data_exploration.ipynb", "02_results.ipynb")

# Licence terms: outputs may hold short tokens and counts, never a run of this many words of a tweet.
LEAK_WORDS = 7

# Tweets are cleaned to a-z 0-9 . - : _ and spaces; outputs are read the same way, and trailing
# punctuation is dropped on both sides so that "word:" in an output still matches "word" in a tweet.
_WORD = re.compile(r"[a-z0-9.:_-]+")
_TAG = re.compile(r"<[^>]*>")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# What the notebooks print when they fall back; the committed outputs must come from the real file.
_NO_DATA_MESSAGE = "was not found"
_SAMPLE_MESSAGE = "using the bundled synthetic sample instead"


def _words(text: str) -> list[str]:
    """Lower-cased words of a text, read as the competition's cleaning writes them."""
    return [w for w in (m.strip(".:_-") for m in _WORD.findall(text.lower())) if w]


def _ngrams(words: list[str], n: int = LEAK_WORDS) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _text(value: str | list[str]) -> str:
    """Notebook JSON stores multi-line strings either whole or as a list of lines."""
    return value if isinstance(value, str) else "".join(value)


def output_texts(notebook: dict[str, Any]) -> Iterator[tuple[int, str]]:
    """Every text a notebook's outputs hold, as (cell index, text).

    Streams, every text/* representation of rich outputs (HTML without its tags) and error
    messages with their tracebacks; images are not text and are skipped.
    """
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            kind = output["output_type"]
            if kind == "stream":
                yield index, _text(output["text"])
            elif kind in ("display_data", "execute_result"):
                for mime, value in output.get("data", {}).items():
                    if mime.startswith("text/"):
                        text = _text(value)
                        yield index, html.unescape(_TAG.sub(" ", text)) if mime == "text/html" else text
            elif kind == "error":
                yield index, _ANSI.sub("", "\n".join([output["ename"], output["evalue"], *output["traceback"]]))


def tweet_ngrams(texts: Iterable[str]) -> set[tuple[str, ...]]:
    """Every run of LEAK_WORDS consecutive words of the given tweets."""
    found: set[tuple[str, ...]] = set()
    for text in texts:
        found |= _ngrams(_words(text))
    return found


def leaks(notebook: dict[str, Any], tweets: Set[tuple[str, ...]]) -> list[str]:
    """Outputs holding LEAK_WORDS or more consecutive words of a tweet, as "cell N: first words ...".

    Each output is read as one stream of words, so a tweet wrapped over several lines is caught too.
    """
    found = []
    for index, text in output_texts(notebook):
        words = _words(text)
        for i in range(len(words) - LEAK_WORDS + 1):
            if tuple(words[i : i + LEAK_WORDS]) in tweets:
                # Name the cell and only three words, so the test report does not leak the tweet either.
                found.append(f"cell {index}: {' '.join(words[i : i + 3])} ...")
                break
    return found


def code_cell_problems(notebook: dict[str, Any]) -> list[str]:
    """Why a notebook does not read as one clean run from top to bottom (empty list when it does)."""
    problems = []
    code = [(i, c) for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code"]
    if not code:
        problems.append("no code cells")
    counts = [c.get("execution_count") for _, c in code]
    for i, cell in code:
        if cell.get("execution_count") is None:
            problems.append(f"cell {i} was not executed")
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                problems.append(f"cell {i} raised {output['ename']}")
    if None not in counts and counts != list(range(1, len(code) + 1)):
        problems.append(f"execution counts {counts} are not 1..{len(code)} in order (cells run out of order?)")
    return problems


def _load(name: str) -> dict[str, Any]:
    return json.loads((NOTEBOOK_DIR / name).read_text(encoding="utf-8"))


@functools.cache
def _file_ngrams(path: Path) -> frozenset[tuple[str, ...]]:
    """The word runs of a training file, read once per test session."""
    from tweetner.data import load_csv

    examples, _ = load_csv(path)
    return frozenset(tweet_ngrams(ex.text for ex in examples))


@pytest.fixture
def training_ngrams(train_csv: Path) -> frozenset[tuple[str, ...]]:
    return _file_ngrams(train_csv)


# ---------------------------------------------------------------------------
# The checks themselves, on made-up text


def test_leak_check_finds_seven_words_and_tolerates_six() -> None:
    tweets = tweet_ngrams(["the quick patch for the old router firmware closes a hole"])
    seven = "the quick patch for the old router"

    def notebook(*outputs: dict) -> dict:
        return {"cells": [{"cell_type": "code", "execution_count": 1, "outputs": list(outputs)}]}

    stream = {"output_type": "stream", "name": "stdout", "text": ["header 12\n", seven.upper() + "!\n"]}
    assert leaks(notebook(stream), tweets) == ["cell 0: the quick patch ..."]
    # Wrapped over lines and cells of an HTML table: still one run of words.
    table = "<table><tr><td>the quick patch</td></tr><tr><td>for the old router</td></tr></table>"
    rich = {"output_type": "display_data", "data": {"text/html": table, "image/png": "AAAA"}, "metadata": {}}
    assert leaks(notebook(rich), tweets) == ["cell 0: the quick patch ..."]
    error = {"output_type": "error", "ename": "ValueError", "evalue": "x",
             "traceback": ["\x1b[31mthe quick patch for\x1b[0m the old router"]}
    assert len(leaks(notebook(error), tweets)) == 1
    # Six words, or seven broken up by counts, are what the notebooks may show.
    assert leaks(notebook({**stream, "text": "the quick patch for the old\n"}), tweets) == []
    assert leaks(notebook({**stream, "text": "the quick patch 3 for the old router\n"}), tweets) == []


def test_cell_order_check_reports_unexecuted_and_reordered_cells() -> None:
    def cells(*counts: int | None) -> dict:
        return {"cells": [{"cell_type": "markdown", "source": "x"}]
                + [{"cell_type": "code", "execution_count": n, "outputs": []} for n in counts]}

    assert code_cell_problems(cells(1, 2, 3)) == []
    assert code_cell_problems(cells(1, None, 3)) == ["cell 2 was not executed"]
    assert "not 1..3 in order" in code_cell_problems(cells(1, 3, 2))[0]
    assert "not 1..2 in order" in code_cell_problems(cells(4, 5))[0]  # a rerun of some cells only
    failed = cells(1)
    failed["cells"][1]["outputs"] = [{"output_type": "error", "ename": "KeyError", "evalue": "", "traceback": []}]
    assert code_cell_problems(failed) == ["cell 1 raised KeyError"]


# ---------------------------------------------------------------------------
# The committed notebooks


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_was_run_top_to_bottom(name: str) -> None:
    notebook = _load(name)
    assert notebook["nbformat"] == 4
    assert code_cell_problems(notebook) == []
    texts = [text for _, text in output_texts(notebook)]
    # The committed outputs come from the real file, not from the fallbacks for its absence.
    assert not any(_NO_DATA_MESSAGE in t or _SAMPLE_MESSAGE in t for t in texts)
    images = sum("image/png" in o.get("data", {}) for c in notebook["cells"] for o in c.get("outputs", []))
    assert images >= 5, f"{name}: only {images} plots in the outputs"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_outputs_hold_no_tweet_text(name: str, training_ngrams: Set[tuple[str, ...]]) -> None:
    assert leaks(_load(name), training_ngrams) == []


# ---------------------------------------------------------------------------
# Executing the notebooks


def _execute(name: str, tmp_path: Path) -> dict[str, Any]:
    """Runs a temporary copy of a notebook from notebooks/ and returns the executed notebook as JSON."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("ipykernel")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    copy = tmp_path / name
    shutil.copyfile(NOTEBOOK_DIR / name, copy)
    notebook = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, when a cell fails
    nbformat.write(notebook, copy)
    return json.loads(copy.read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name: str, tmp_path: Path) -> None:
    notebook = _execute(name, tmp_path)
    assert code_cell_problems(notebook) == []
    if TRAIN_CSV.is_file():
        assert leaks(notebook, _file_ngrams(TRAIN_CSV)) == []


@pytest.mark.slow
def test_exploration_stops_cleanly_without_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absent = tmp_path / "absent" / "train.csv"
    monkeypatch.setenv("TWEETNER_TRAIN_CSV", str(absent))  # inherited by the kernel
    notebook = _execute(NOTEBOOKS[0], tmp_path)
    assert code_cell_problems(notebook) == []
    texts = list(output_texts(notebook))
    first_code = next(i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code")
    assert [i for i, _ in texts] == [first_code], "cells after the missing-file message produced output"
    message = texts[0][1]
    assert _NO_DATA_MESSAGE in message and str(absent) in message and "Stopping here" in message
