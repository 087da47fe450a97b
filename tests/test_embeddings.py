"""Tests for tweetner.embeddings on tiny vector files written to tmp_path."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tweetner.embeddings import (
    EmbeddingError,
    EmbeddingReport,
    detect_format,
    load_matrix,
    load_pretrained,
    random_init,
    save_matrix,
    train_in_domain,
)

REPO = Path(__file__).resolve().parents[1]

# Hand-made 4-d vectors; distinct values so a row taken from the wrong word shows up.
VECTORS = {
    "patch": [0.1, 0.2, 0.3, 0.4],
    "exploit": [-1.0, 0.5, 0.0, 2.0],
    "windows": [3.0, -3.0, 1.5, -1.5],
    "cve-2019-0708": [0.25, 0.75, -0.25, -0.75],
    "Apple": [9.0, 9.0, 9.0, 9.0],
    "apple": [-9.0, -9.0, -9.0, -9.0],
}

# Tokenised sentences written for these tests (security-flavoured, no real tweets).
SENTENCES = [
    ["vendor", "ships", "patch", "for", "router", "exploit"],
    ["new", "exploit", "targets", "old", "router", "firmware"],
    ["patch", "now", "the", "router", "firmware", "is", "vulnerable"],
    ["researchers", "publish", "exploit", "for", "firmware", "bug"],
    ["vendor", "says", "patch", "fixes", "the", "bug"],
] * 4


def _glove_text(vectors: dict[str, list[float]]) -> str:
    return "".join(f"{w} {' '.join(repr(x) for x in v)}\n" for w, v in vectors.items())


def write_glove(path: Path, vectors: dict[str, list[float]] = VECTORS) -> Path:
    path.write_text(_glove_text(vectors), encoding="utf-8")
    return path


def write_word2vec_text(path: Path, vectors: dict[str, list[float]] = VECTORS) -> Path:
    dim = len(next(iter(vectors.values())))
    path.write_text(f"{len(vectors)} {dim}\n" + _glove_text(vectors), encoding="utf-8")
    return path


def write_word2vec_binary(path: Path, vectors: dict[str, list[float]] = VECTORS) -> Path:
    from gensim.models import KeyedVectors

    dim = len(next(iter(vectors.values())))
    kv = KeyedVectors(dim)
    kv.add_vectors(list(vectors), np.asarray(list(vectors.values()), dtype=np.float32))
    kv.save_word2vec_format(str(path), binary=True)
    return path


def assert_aligned(matrix: np.ndarray, words: list[str], expected: dict[str, list[float]]) -> None:
    for i, word in enumerate(words):
        np.testing.assert_allclose(matrix[i], expected[word], rtol=1e-6, err_msg=word)


# ----------------------------------------------------------------------------- formats


def test_glove_without_header_rows_follow_words(tmp_path):
    path = write_glove(tmp_path / "glove.4d.txt")
    words = ["windows", "patch", "cve-2019-0708", "exploit"]

    matrix, report = load_pretrained(path, words)

    assert detect_format(path) == "glove"
    assert matrix.dtype == np.float32 and matrix.shape == (4, 4)
    assert_aligned(matrix, words, VECTORS)
    assert report.format == "glove" and report.dim == 4 and report.source_size == len(VECTORS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_any_word_order_gives_matching_rows(tmp_path, seed):
    path = write_glove(tmp_path / "glove.txt")
    words = list(np.random.default_rng(seed).permutation(["patch", "exploit", "windows", "cve-2019-0708"]))

    matrix, _ = load_pretrained(path, words)

    assert_aligned(matrix, words, VECTORS)


def test_word2vec_text_with_header(tmp_path):
    path = write_word2vec_text(tmp_path / "vectors.txt")
    words = ["exploit", "patch"]

    matrix, report = load_pretrained(path, words)

    assert detect_format(path) == "word2vec-text"
    assert report.format == "word2vec-text" and report.source_size == len(VECTORS)
    assert_aligned(matrix, words, VECTORS)


@pytest.mark.parametrize("name", ["vectors.bin", "vectors.vec"])
def test_word2vec_binary_by_extension_or_by_content(tmp_path, name):
    # ".vec" carries no hint: the raw float bytes after the header give the format away.
    path = write_word2vec_binary(tmp_path / name)
    words = ["windows", "cve-2019-0708", "patch"]

    matrix, report = load_pretrained(path, words)

    assert detect_format(path) == "word2vec-binary"
    assert report.format == "word2vec-binary"
    assert_aligned(matrix, words, VECTORS)


def test_gzipped_glove_and_binary(tmp_path):
    text = tmp_path / "glove.txt.gz"
    with gzip.open(text, "wt", encoding="utf-8") as fout:
        fout.write(_glove_text(VECTORS))
    binary = write_word2vec_binary(tmp_path / "vectors.bin")
    binary_gz = tmp_path / "vectors.bin.gz"
    binary_gz.write_bytes(gzip.compress(binary.read_bytes()))
    words = ["exploit", "windows"]

    for path, fmt in ((text, "glove"), (binary_gz, "word2vec-binary")):
        matrix, report = load_pretrained(path, words)
        assert detect_format(path) == fmt
        assert report.found == 2
        assert_aligned(matrix, words, VECTORS)


# ----------------------------------------------------------------------------- lookup and coverage


def test_exact_case_first_then_lower_case(tmp_path):
    path = write_glove(tmp_path / "glove.txt")

    matrix, report = load_pretrained(path, ["Apple", "APPLE", "Windows"])

    np.testing.assert_allclose(matrix[0], VECTORS["Apple"])  # exact match wins
    np.testing.assert_allclose(matrix[1], VECTORS["apple"])  # only the lower-case form exists
    np.testing.assert_allclose(matrix[2], VECTORS["windows"])
    assert report.found == 3 and report.found_lowercase == 2


def test_coverage_counts_words_and_tokens(tmp_path):
    path = write_glove(tmp_path / "glove.txt")
    words = ["", "[UNK]", "patch", "exploit", "firmware", "router"]
    counts = {"patch": 6, "exploit": 2, "firmware": 1, "router": 3, "[UNK]": 100}

    _, report = load_pretrained(path, words, counts=counts)

    # Reserved tokens are neither looked up nor counted.
    assert (report.vocab_size, report.searched, report.found) == (6, 4, 2)
    assert report.coverage == pytest.approx(0.5)
    assert report.weighted_coverage == pytest.approx(8 / 12)
    assert "2/4 words" in report.summary()

    _, by_row = load_pretrained(path, words, counts=[0, 0, 6, 2, 1, 3])
    assert by_row.weighted_coverage == pytest.approx(8 / 12)
    _, without = load_pretrained(path, words)
    assert without.weighted_coverage is None
    with pytest.raises(ValueError, match="counts has 2 entries but words has 6"):
        load_pretrained(path, words, counts=[1, 2])


def test_report_is_json_ready(tmp_path):
    import json

    _, report = load_pretrained(write_glove(tmp_path / "g.txt"), ["patch"], counts={"patch": 1})

    again = EmbeddingReport(**json.loads(json.dumps(report.to_dict())))
    assert again == report


# ----------------------------------------------------------------------------- missing words


def _wide_file(path: Path, std: float, n: int = 200, dim: int = 16) -> tuple[Path, np.ndarray]:
    vectors = np.random.default_rng(123).normal(0.0, std, (n, dim)).astype(np.float32)
    write_glove(path, {f"w{i}": list(map(float, v)) for i, v in enumerate(vectors)})
    return path, vectors


def test_missing_rows_are_seeded_and_scaled_like_found_ones(tmp_path):
    path, vectors = _wide_file(tmp_path / "wide.txt", std=5.0)
    words = ["", "[UNK]"] + [f"w{i}" for i in range(200)] + [f"missing{i}" for i in range(300)]

    matrix, report = load_pretrained(path, words, seed=7)
    again, _ = load_pretrained(path, words, seed=7)
    other, _ = load_pretrained(path, words, seed=8)

    assert report.found == 200
    np.testing.assert_allclose(matrix[2:202], vectors, rtol=1e-6)
    np.testing.assert_array_equal(matrix, again)
    assert not np.allclose(matrix[202:], other[202:])
    np.testing.assert_array_equal(matrix[2:202], other[2:202])  # found rows ignore the seed
    assert np.all(matrix[0] == 0.0)  # padding
    assert np.any(matrix[1] != 0.0)  # [UNK] is an ordinary random row
    missing = matrix[202:]
    assert missing.std() == pytest.approx(vectors.std(), rel=0.1)
    assert abs(missing.mean()) < 0.2 * vectors.std()


def test_missing_row_does_not_depend_on_what_else_was_found(tmp_path):
    path = write_glove(tmp_path / "glove.txt")

    few, _ = load_pretrained(path, ["nothing", "zzz", "patch"], seed=3)
    many, _ = load_pretrained(path, ["exploit", "zzz", "patch"], seed=3)

    # Same seed, same row, same shape: the scale may differ with what was found, the draw does not.
    ratio = few[1] / many[1]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)


def test_nothing_found_falls_back_to_the_file_scale(tmp_path):
    path, vectors = _wide_file(tmp_path / "wide.txt", std=4.0)

    matrix, report = load_pretrained(path, [f"absent{i}" for i in range(300)])

    assert report.found == 0 and report.coverage == 0.0
    assert matrix.std() == pytest.approx(vectors.std(), rel=0.1)


# ----------------------------------------------------------------------------- bad files


def _error(path: Path) -> EmbeddingError:
    with pytest.raises(EmbeddingError) as info:
        load_pretrained(path, ["patch"])
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    return info.value


def test_missing_file(tmp_path):
    err = _error(tmp_path / "nowhere.txt")
    assert err.problem == "file not found" and err.line is None
    assert isinstance(err, ValueError)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    assert _error(path).problem == "the file is empty"


def test_empty_gzip_file(tmp_path):
    path = tmp_path / "empty.txt.gz"
    path.write_bytes(gzip.compress(b""))
    assert _error(path).problem == "the file is empty"


def test_inconsistent_dimension_names_the_line(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("patch 0.1 0.2 0.3\nexploit 1 2 3\nrouter 1 2\nbug 4 5 6\n", encoding="utf-8")

    err = _error(path)

    assert err.line == 3
    assert str(err) == f"{path}:3: expected 3 numbers after the word, found 2"


def test_non_number_names_the_line_in_word2vec_text(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("3 2\npatch 0.1 0.2\nexploit 1 two\nbug 4 5\n", encoding="utf-8")

    err = _error(path)

    assert err.line == 3 and "'two'" in err.problem


def test_header_promising_more_vectors_than_present(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("5 2\npatch 0.1 0.2\nexploit 1 2\n", encoding="utf-8")

    err = _error(path)

    assert "declares 5 vectors" in err.problem and "after 2" in err.problem


def test_bin_file_without_header(tmp_path):
    path = write_glove(tmp_path / "vectors.bin")
    err = _error(path)
    assert err.line == 1 and "header" in err.problem


def test_truncated_binary(tmp_path):
    full = write_word2vec_binary(tmp_path / "full.bin").read_bytes()
    path = tmp_path / "cut.bin"
    path.write_bytes(full[: len(full) // 2])
    assert "ends before" in _error(path).problem


def test_gzip_without_gz_extension(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_bytes(gzip.compress(_glove_text(VECTORS).encode()))
    assert ".gz" in _error(path).problem


def test_damaged_gzip(tmp_path):
    path = tmp_path / "glove.txt.gz"
    path.write_bytes(gzip.compress(_glove_text(VECTORS).encode())[:12] + b"garbage")
    assert "cannot read" in _error(path).problem


# ----------------------------------------------------------------------------- in-domain training


WORDS = ["", "[UNK]", "patch", "exploit", "router", "firmware", "unseenword"]


@pytest.mark.parametrize("method", ["word2vec", "fasttext"])
def test_in_domain_training_is_deterministic(method):
    kwargs = dict(dim=8, method=method, seed=11, epochs=3, bucket=500)

    first, report = train_in_domain(SENTENCES, WORDS, **kwargs)
    second, _ = train_in_domain(SENTENCES, WORDS, **kwargs)
    reseeded, _ = train_in_domain(SENTENCES, WORDS, **{**kwargs, "seed": 12})

    assert first.dtype == np.float32 and first.shape == (len(WORDS), 8)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first[2:6], reseeded[2:6])
    assert np.all(first[0] == 0.0) and np.any(first[1] != 0.0)
    assert report.format == method and report.searched == 5


def test_in_domain_training_ignores_python_hash_seed(tmp_path):
    # Python salts str hashes per process; gensim would use that hash unless replaced.
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from tweetner.embeddings import train_in_domain
        m, _ = train_in_domain({SENTENCES!r}, {WORDS!r}, dim=8, seed=5, epochs=2)
        np.save(sys.argv[1], m)
        """
    )
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"m{hash_seed}.npy"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, cwd=tmp_path)
        outputs.append(np.load(out))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_word2vec_rows_come_from_the_model_and_unseen_words_are_random():
    from gensim.models import Word2Vec

    from tweetner.embeddings import _stable_hash

    matrix, report = train_in_domain(SENTENCES, WORDS, dim=8, seed=3, epochs=2)
    model = Word2Vec(SENTENCES, vector_size=8, window=5, min_count=1, workers=1, sg=1, seed=3,
                     epochs=2, hashfxn=_stable_hash)

    np.testing.assert_allclose(matrix[2], model.wv["patch"], rtol=1e-6)
    assert report.found == 4 and report.from_subwords == 0
    assert np.any(matrix[6] != 0.0)
    # Token coverage uses the sentences' own counts: every training token has a vector.
    assert report.weighted_coverage == pytest.approx(1.0)


def test_min_count_leaves_rare_words_to_random_rows():
    words = ["patch", "researchers"]  # "researchers" is once per copy of the base sentences
    _, report = train_in_domain(SENTENCES, words, dim=4, epochs=1, min_count=5)
    assert report.found == 1


def test_fasttext_builds_unseen_words_from_subwords():
    matrix, report = train_in_domain(
        SENTENCES, WORDS + ["patches"], dim=8, method="fasttext", epochs=2, bucket=500
    )

    assert report.found == 6 and report.from_subwords == 2 and report.coverage == 1.0
    assert np.linalg.norm(matrix[6]) > 0 and np.linalg.norm(matrix[7]) > 0
    # "patches" shares n-grams such as "<pat" and "patc" with "patch": the vectors must agree more
    # than an unrelated pair would by chance.
    cosine = matrix[7] @ matrix[2] / (np.linalg.norm(matrix[7]) * np.linalg.norm(matrix[2]))
    assert cosine > 0.3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(method="glove"), "method must be 'word2vec' or 'fasttext', got 'glove'"),
        (dict(dim=0), "dim must be at least 1, got 0"),
        (dict(epochs=-1), "epochs must be at least 1, got -1"),
        (dict(min_count=1000), "no word occurs at least min_count=1000 times"),
    ],
)
def test_training_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_in_domain(SENTENCES, WORDS, **kwargs)


def test_training_rejects_empty_corpus():
    with pytest.raises(ValueError, match="nothing to train on"):
        train_in_domain([[], []], WORDS, dim=4)


# ----------------------------------------------------------------------------- random and storage


def test_random_init():
    words = [""] + [f"w{i}" for i in range(999)]

    matrix = random_init(words, 25, seed=4)

    assert matrix.shape == (1000, 25) and matrix.dtype == np.float32
    assert np.all(matrix[0] == 0.0)
    assert matrix[1:].std() == pytest.approx(1 / 5, rel=0.05)
    np.testing.assert_array_equal(matrix, random_init(words, 25, seed=4))
    assert not np.allclose(matrix[1:], random_init(words, 25, seed=5)[1:])
    assert random_init(words, 25, seed=4, std=2.0)[1:].std() == pytest.approx(2.0, rel=0.05)


def test_matrix_round_trip_keeps_the_exact_name(tmp_path):
    matrix = random_init(["", "[UNK]", "patch"], 6, seed=1)
    path = tmp_path / "word_vectors.matrix"

    save_matrix(path, matrix.astype(np.float64))
    loaded = load_matrix(path)

    assert path.is_file() and not (tmp_path / "word_vectors.matrix.npy").exists()
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, matrix)


def test_save_matrix_rejects_non_2d(tmp_path):
    with pytest.raises(ValueError, match="must be 2-D"):
        save_matrix(tmp_path / "m.npy", np.zeros(3))


def test_load_matrix_errors_name_the_file(tmp_path):
    not_npy = tmp_path / "words.txt"
    not_npy.write_text("patch\nexploit\n")
    vector = tmp_path / "vector.npy"
    np.save(vector, np.zeros(3, dtype=np.float32))
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    integers = tmp_path / "ints.npy"
    np.save(integers, np.zeros((2, 2), dtype=np.int64))

    cases = [
        (tmp_path / "absent.npy", "file not found"),
        (not_npy, "not a NumPy .npy matrix"),
        (vector, "expected a 2-D matrix"),
        (pickled, "not a NumPy .npy matrix"),
        (integers, "expected floating-point values"),
    ]
    for path, problem in cases:
        with pytest.raises(EmbeddingError, match=problem) as info:
            load_matrix(path)
        assert str(info.value).startswith(f"{path}: ")


def test_import_pulls_in_neither_tensorflow_nor_gensim():
    code = (
        "import sys, tweetner.embeddings; "
        "assert 'tensorflow' not in sys.modules and 'gensim' not in sys.modules, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'gensim'))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_truncated_gzip_past_the_sniffed_head(tmp_path):
    # Long enough that the damage lies beyond the bytes read to detect the format.
    path = tmp_path / "glove.txt.gz"
    many = {f"w{i}": [float(i), 0.5, -0.5, 1.0] for i in range(20000)}
    data = gzip.compress(_glove_text(many).encode())
    path.write_bytes(data[: len(data) - 100])
    assert "cannot read" in _error(path).problem
