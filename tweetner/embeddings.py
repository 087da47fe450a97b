"""Word vectors for the word vocabulary: pretrained files, in-domain training, random init.

Every function here returns a float32 matrix of shape `[len(words), dim]` aligned row by row with
`words` (row i holds the vector of `words[i]`), ready to initialise the model's word embedding.
The pretrained file is read once, reduced to that matrix and dropped, so the model never carries
the 1.2M-word GloVe table; `save_matrix` stores the reduced matrix beside the vocabulary.

Reserved tokens (the word vocabulary gives them fixed ids, padding 0 and unknown 1):

* `""` (padding) always gets a zero row: padded positions must contribute nothing, and a zero
  row keeps that true even if a layer ignores the mask.
* `"[UNK]"` gets a random row drawn like the rows of words missing from the source. Words unseen
  in training share it at prediction time, so it must be an ordinary trainable vector of the
  same scale as the others, not a zero that the network could learn to read as "padding".

Neither reserved token is looked up in the source, and neither counts towards coverage.

Rows for words missing from the source are drawn from N(0, std^2), where std is the standard
deviation of all entries of the vectors that were found, so they have the same scale as the real
ones. The draw for the whole matrix is made up front from `numpy.random.default_rng(seed)` and
found rows are then overwritten: a missing word's row depends only on the seed, the matrix shape
and the word's row, not on which other words happened to be found.

This module uses gensim and NumPy only (no TensorFlow).
"""
from __future__ import annotations

import codecs
import dataclasses
import lzma
import os
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

PAD = ""
UNK = "[UNK]"
RESERVED = (PAD, UNK)

# Bytes read from the start of a vector file to tell its format.
_SNIFF_BYTES = 1 << 16
# Extensions smart_open (gensim's file opener) decompresses transparently.
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")
_GZIP_MAGIC = b"\x1f\x8b"
# What reading a damaged or truncated (compressed) file raises, besides gensim's own errors.
_READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)

Format = Literal["glove", "word2vec-text", "word2vec-binary"]


class EmbeddingError(ValueError):
    """A vector or matrix file that cannot be used.

    Attributes:
        path: The offending file.
        problem: What is wrong, in words.
        line: 1-based line of the (decompressed) file where the problem is, or None.
    """

    def __init__(self, path: str | os.PathLike, problem: str, line: int | None = None):
        self.path = str(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


@dataclasses.dataclass(frozen=True)
class EmbeddingReport:
    """How well a source of vectors covers the word vocabulary.

    Attributes:
        source: Where the vectors came from: the file path, "word2vec", "fasttext" or "random".
        dim: Vector dimension.
        vocab_size: Rows of the matrix (`len(words)`, reserved tokens included).
        searched: Non-reserved words, i.e. the words looked up in the source.
        found: Non-reserved words that got their vector from the source.
        coverage: `found / searched` (0.0 when `searched` is 0).
        weighted_coverage: Fraction of token occurrences whose word was found, using the counts
            given (or, for in-domain training, the counts in the training sentences); None when
            no counts were available. 0.0 when the counts add up to zero.
        found_lowercase: How many of `found` matched only after lower-casing.
        from_subwords: How many of `found` FastText built from character n-grams because the word
            itself was not in its trained vocabulary (always 0 for the other sources).
        source_size: Number of vectors in the source (file or trained model); 0 for "random".
        format: The detected file format ("glove", "word2vec-text", "word2vec-binary"), or the
            method name for trained and random vectors.
    """

    source: str
    dim: int
    vocab_size: int
    searched: int
    found: int
    coverage: float
    weighted_coverage: float | None = None
    found_lowercase: int = 0
    from_subwords: int = 0
    source_size: int = 0
    format: str = ""

    def to_dict(self) -> dict:
        """The report as a JSON-ready dict (for the metadata written beside a model)."""
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line for logs, e.g. `glove 100d: 812/1000 words (81.2%), 95.3% of tokens`."""
        text = (
            f"{self.format or self.source} {self.dim}d: {self.found}/{self.searched} words "
            f"({self.coverage:.1%})"
        )
        if self.weighted_coverage is not None:
            text += f", {self.weighted_coverage:.1%} of tokens"
        return text


# --------------------------------------------------------------------------------------------
# Pretrained vectors
# --------------------------------------------------------------------------------------------


def detect_format(path: str | os.PathLike) -> Format:
    """Tells the format of a word-vector file from its name and first bytes.

    Binary word2vec is chosen by a `.bin` extension (before any compression suffix), or when the
    first line is a `count dim` header and the bytes after it contain NUL or are not UTF-8 (text
    formats never do). Otherwise a first line of exactly two integers is a word2vec text header,
    and anything else is headerless GloVe text.

    Args:
        path: The vector file, optionally compressed (`.gz`, `.bz2`, `.xz`).

    Returns:
        "glove", "word2vec-text" or "word2vec-binary".

    Raises:
        EmbeddingError: The file is missing, unreadable, empty, or gzip data without a `.gz` name.
    """
    path = Path(path)
    head = _read_head(path)
    first_line, _, rest = head.partition(b"\n")
    if _uncompressed_suffix(path) == ".bin":
        return "word2vec-binary"
    if not _is_header(first_line):
        return "glove"
    if b"\x00" in rest or not _is_utf8_prefix(rest):
        return "word2vec-binary"
    return "word2vec-text"


def load_pretrained(
    path: str | os.PathLike,
    words: Sequence[str],
    *,
    seed: int = 0,
    counts: Mapping[str, int] | Sequence[int] | None = None,
) -> tuple[np.ndarray, EmbeddingReport]:
    """Reads a pretrained vector file and reduces it to a matrix aligned with `words`.

    Accepted formats (see `detect_format`): GloVe text without header (e.g.
    glove.twitter.27B.100d.txt), word2vec text with a `count dim` header, word2vec binary; each
    may be gzip/bz2/xz-compressed. Each word is looked up as is, then lower-cased. The whole file
    is loaded through gensim, sliced, and released before returning.

    Args:
        path: The vector file.
        words: The word vocabulary, row order of the result; `""` and `"[UNK]"` are reserved
            (see the module docstring).
        seed: Seed of the random rows for missing words and `"[UNK]"`.
        counts: Token counts for the weighted coverage: a mapping word -> count, or a sequence of
            counts aligned with `words`. Optional.

    Returns:
        `(matrix, report)`: float32 matrix of shape `[len(words), dim]` and its coverage report.

    Raises:
        EmbeddingError: Missing, empty or malformed file (the message names the file and, for
            text formats, the first bad line).
        ValueError: `counts` is a sequence of the wrong length.
    """
    from gensim.models import KeyedVectors  # gensim import costs ~1 s; only pay it when used

    path = Path(path)
    fmt = detect_format(path)
    try:
        kv = KeyedVectors.load_word2vec_format(
            str(path),
            binary=fmt == "word2vec-binary",
            no_header=fmt == "glove",
            # Big crawled files hold a few words cut inside a multi-byte character; such words
            # could never match a clean token anyway, so replacing the bad bytes costs nothing.
            unicode_errors="replace",
        )
    except (ValueError, IndexError, TypeError, AssertionError, *_READ_ERRORS) as err:
        raise _explain_load_failure(path, fmt, err) from None
    if len(kv) == 0 or kv.vector_size == 0:
        raise EmbeddingError(path, "the file holds no vectors")

    dim = int(kv.vector_size)
    source_size = len(kv)
    rows: list[int] = []
    hits: list[int] = []
    lowercase = 0
    for i, word in enumerate(words):
        if word in RESERVED:
            continue
        index = kv.key_to_index.get(word)
        if index is None:
            index = kv.key_to_index.get(word.lower())
            lowercase += index is not None
        if index is not None:
            rows.append(i)
            hits.append(index)
    found = np.asarray(kv.vectors[hits], dtype=np.float32).reshape(len(hits), dim)
    # Only the slice is needed from here on; drop the full table (hundreds of MB for GloVe).
    reference = found if len(hits) else np.asarray(kv.vectors, dtype=np.float32)
    std = float(reference.std()) if reference.size else 1.0
    del kv, reference

    matrix = _random_rows(len(words), dim, seed, std)
    matrix[rows] = found
    _zero_padding(matrix, words)
    report = _report(
        str(path), fmt, words, set(rows), dim, counts, lowercase=lowercase, source_size=source_size
    )
    return matrix, report


def _read_head(path: Path) -> bytes:
    """First `_SNIFF_BYTES` bytes of the decompressed file, with clear errors for bad files."""
    from gensim import utils  # smart_open: the same decompression gensim applies when loading

    if not path.exists():
        raise EmbeddingError(path, "file not found")
    if not path.is_file():
        raise EmbeddingError(path, "not a regular file")
    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
        if magic == _GZIP_MAGIC and path.suffix.lower() not in _COMPRESSED_SUFFIXES:
            # gensim picks decompression by extension only and would parse the gzip bytes.
            raise EmbeddingError(path, "the file is gzip-compressed; give it a .gz extension")
        with utils.open(str(path), "rb") as fin:
            head = fin.read(_SNIFF_BYTES)
    except EmbeddingError:
        raise
    except (ValueError, *_READ_ERRORS) as err:
        raise EmbeddingError(path, f"cannot read the file: {err}") from None
    if not head.strip():
        raise EmbeddingError(path, "the file is empty")
    return head


def _uncompressed_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED_SUFFIXES:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _is_header(line: bytes) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def _is_utf8_prefix(data: bytes) -> bool:
    # The sniffed block may end inside a multi-byte character: an incremental decoder without
    # `final` accepts an incomplete tail but still rejects invalid bytes.
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _explain_load_failure(path: Path, fmt: Format, err: BaseException) -> EmbeddingError:
    """Turns a gensim failure into an EmbeddingError, locating the bad line for text formats.

    gensim's messages name neither the file nor the line, so for text files the file is scanned
    again with gensim's own splitting rules (only on this error path).
    """
    if isinstance(err, _READ_ERRORS) and not _is_gensim_eof(err):
        return EmbeddingError(path, f"cannot read the file: {err}")
    if fmt == "word2vec-binary":
        first_line = _read_head(path).partition(b"\n")[0]
        if not _is_header(first_line):
            return EmbeddingError(
                path, "a binary word2vec file must start with a 'count dim' header line", 1
            )
    else:
        located = _find_bad_line(path, has_header=fmt == "word2vec-text")
        if located is not None:
            line, problem = located
            return EmbeddingError(path, problem, line)
    if _is_gensim_eof(err):
        return EmbeddingError(path, "the file ends before the number of vectors its header declares")
    return EmbeddingError(path, f"malformed {fmt} file: {err}")


def _is_gensim_eof(err: BaseException) -> bool:
    # gensim raises EOFError when a header promises more vectors than the file holds; gzip raises
    # it too, for a truncated archive, with a different message.
    return isinstance(err, EOFError) and str(err).startswith("unexpected end of input")


def _find_bad_line(path: Path, *, has_header: bool) -> tuple[int, str] | None:
    """First line that gensim cannot parse, as `(1-based line, problem)`, or None."""
    try:
        return _scan_lines(path, has_header=has_header)
    except _READ_ERRORS:
        return None  # the caller falls back to gensim's message


def _scan_lines(path: Path, *, has_header: bool) -> tuple[int, str] | None:
    from gensim import utils

    declared = dim = None
    vectors = 0
    with utils.open(str(path), "rb") as fin:
        for number, raw in enumerate(fin, start=1):
            text = raw.decode("utf-8", errors="replace").rstrip()
            if has_header and number == 1:
                declared, dim = (int(x) for x in text.split())
                continue
            if has_header and vectors == declared:
                return None  # gensim stops reading after the declared count
            # gensim splits on single spaces, so a tab or double space makes an empty field.
            parts = text.split(" ")
            values = parts[1:]
            if dim is None:
                dim = len(values)
            if not values:
                return number, f"expected a word and {dim} numbers, found none"
            if len(values) != dim:
                return number, f"expected {dim} numbers after the word, found {len(values)}"
            for value in values:
                try:
                    float(value)
                except ValueError:
                    return number, f"not a number: {value!r}"
            vectors += 1
    if has_header and declared is not None and vectors < declared:
        return (
            number,
            f"the header declares {declared} vectors but the file ends after {vectors}",
        )
    return None


# --------------------------------------------------------------------------------------------
# In-domain vectors
# --------------------------------------------------------------------------------------------


def train_in_domain(
    sentences: list[list[str]],
    words: Sequence[str],
    *,
    dim: int = 100,
    method: Literal["word2vec", "fasttext"] = "word2vec",
    seed: int = 0,
    epochs: int = 10,
    window: int = 5,
    min_count: int = 1,
    workers: int = 1,
    bucket: int = 200_000,
) -> tuple[np.ndarray, EmbeddingReport]:
    """Trains skip-gram word2vec or FastText on the training tweets and aligns it with `words`.

    With `workers=1` the result depends only on the arguments: gensim seeds its initial vectors
    and negative sampling from `seed`, and the per-word hash it would take from Python's salted
    `hash` is replaced by CRC32, so PYTHONHASHSEED does not matter. More workers train faster
    but the thread interleaving makes results differ from run to run.

    Words absent from the trained model (below `min_count`, or not in `sentences`) get seeded
    random rows like in `load_pretrained`; with FastText they get the vector built from their
    character n-grams instead, so every non-reserved word is covered.

    Args:
        sentences: Tokenised training tweets, `[num_tweets][num_tokens]`.
        words: The word vocabulary, row order of the result (reserved tokens as in the module
            docstring).
        dim: Vector dimension.
        method: "word2vec" (skip-gram) or "fasttext" (skip-gram with character 3- to 6-grams).
        seed: Seed of the training and of the random rows.
        epochs: Passes over `sentences`.
        window: Context window size.
        min_count: Words rarer than this in `sentences` are left out of the trained vocabulary.
        workers: Training threads; keep 1 for reproducible vectors.
        bucket: FastText only: number of hash buckets for n-grams. gensim's default of 2,000,000
            costs 800 MB at 100 d; tweets from this competition have far fewer distinct n-grams.

    Returns:
        `(matrix, report)`: float32 matrix of shape `[len(words), dim]`; the report's weighted
        coverage uses the token counts of `sentences`.

    Raises:
        ValueError: An argument is out of range, or no word occurs `min_count` times.
    """
    if method not in ("word2vec", "fasttext"):
        raise ValueError(f"method must be 'word2vec' or 'fasttext', got {method!r}")
    for name, value in (("dim", dim), ("epochs", epochs), ("window", window),
                        ("min_count", min_count), ("workers", workers), ("bucket", bucket)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    sentences = [list(s) for s in sentences]
    token_counts = Counter(token for sentence in sentences for token in sentence)
    if not any(c >= min_count for c in token_counts.values()):
        raise ValueError(
            f"no word occurs at least min_count={min_count} times in {len(sentences)} sentences; "
            "nothing to train on"
        )

    common = dict(
        sentences=sentences, vector_size=dim, window=window, min_count=min_count,
        workers=workers, sg=1, seed=seed, epochs=epochs, hashfxn=_stable_hash,
    )
    if method == "word2vec":
        from gensim.models import Word2Vec

        wv = Word2Vec(**common).wv
    else:
        from gensim.models import FastText

        wv = FastText(bucket=bucket, **common).wv

    matrix = _random_rows(len(words), dim, seed, std=float(wv.vectors.std()))
    rows: set[int] = set()
    subwords = 0
    for i, word in enumerate(words):
        if word in RESERVED:
            continue
        if word in wv.key_to_index:
            matrix[i] = wv[word]
            rows.add(i)
        elif method == "fasttext":
            # FastText composes an unseen word from its hashed n-grams; "<w>" always exists, so
            # every non-empty word gets a vector.
            matrix[i] = wv.get_vector(word)
            rows.add(i)
            subwords += 1
    _zero_padding(matrix, words)
    report = _report(
        method, method, words, rows, dim, token_counts, source_size=len(wv), from_subwords=subwords
    )
    return matrix, report


def _stable_hash(text: str) -> int:
    """Hash independent of PYTHONHASHSEED, given to gensim in place of the salted `hash`."""
    return zlib.crc32(text.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# Random vectors and storage
# --------------------------------------------------------------------------------------------


def random_init(words: Sequence[str], dim: int, seed: int = 0, *, std: float | None = None) -> np.ndarray:
    """Random word vectors for training embeddings from scratch.

    Args:
        words: The word vocabulary; the `""` (padding) row is zero.
        dim: Vector dimension.
        seed: Seed of `numpy.random.default_rng`.
        std: Standard deviation of the entries; default `1 / sqrt(dim)`, which gives vectors of
            norm about 1 whatever the dimension.

    Returns:
        float32 matrix of shape `[len(words), dim]`.
    """
    if dim < 1:
        raise ValueError(f"dim must be at least 1, got {dim}")
    if std is None:
        std = 1.0 / np.sqrt(dim)
    matrix = _random_rows(len(words), dim, seed, std)
    _zero_padding(matrix, words)
    return matrix


def save_matrix(path: str | os.PathLike, matrix: np.ndarray) -> None:
    """Writes a 2-D embedding matrix as `.npy` at exactly `path` (no pickle).

    Args:
        path: Target file; its parent directory must exist. No `.npy` is appended.
        matrix: Array of shape `[vocab_size, dim]`; stored as float32.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"an embedding matrix must be 2-D, got shape {matrix.shape}")
    # Writing through a file object stops np.save from appending ".npy" to the name.
    with open(path, "wb") as fout:
        np.save(fout, matrix.astype(np.float32, copy=False), allow_pickle=False)


def load_matrix(path: str | os.PathLike) -> np.ndarray:
    """Reads a matrix written by `save_matrix`.

    Args:
        path: The `.npy` file.

    Returns:
        float32 array of shape `[vocab_size, dim]`.

    Raises:
        EmbeddingError: Missing file, not a NumPy file, pickled content, or not 2-D.
    """
    path = Path(path)
    if not path.is_file():
        raise EmbeddingError(path, "file not found")
    try:
        matrix = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise EmbeddingError(path, f"not a NumPy .npy matrix: {err}") from None
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        shape = getattr(matrix, "shape", None)
        raise EmbeddingError(path, f"expected a 2-D matrix, found shape {shape}")
    if not np.issubdtype(matrix.dtype, np.floating):
        raise EmbeddingError(path, f"expected floating-point values, found {matrix.dtype}")
    return matrix.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _random_rows(rows: int, dim: int, seed: int, std: float) -> np.ndarray:
    """`[rows, dim]` float32 draws from N(0, std^2); drawn for all rows so each row is stable."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((rows, dim)) * std).astype(np.float32)


def _zero_padding(matrix: np.ndarray, words: Sequence[str]) -> None:
    for i, word in enumerate(words):
        if word == PAD:
            matrix[i] = 0.0


def _report(
    source: str,
    fmt: str,
    words: Sequence[str],
    found_rows: set[int],
    dim: int,
    counts: Mapping[str, int] | Sequence[int] | None,
    *,
    lowercase: int = 0,
    source_size: int = 0,
    from_subwords: int = 0,
) -> EmbeddingReport:
    searched = [i for i, w in enumerate(words) if w not in RESERVED]
    found = sum(1 for i in searched if i in found_rows)
    weighted = None
    if counts is not None:
        if isinstance(counts, Mapping):
            per_row = [counts.get(w, 0) for w in words]
        else:
            per_row = list(counts)
            if len(per_row) != len(words):
                raise ValueError(
                    f"counts has {len(per_row)} entries but words has {len(words)}; "
                    "give one count per word or a word -> count mapping"
                )
        total = sum(per_row[i] for i in searched)
        hit = sum(per_row[i] for i in searched if i in found_rows)
        weighted = hit / total if total else 0.0
    return EmbeddingReport(
        source=source,
        dim=dim,
        vocab_size=len(words),
        searched=len(searched),
        found=found,
        coverage=found / len(searched) if searched else 0.0,
        weighted_coverage=weighted,
        found_lowercase=lowercase,
        from_subwords=from_subwords,
        source_size=source_size,
        format=fmt,
    )
