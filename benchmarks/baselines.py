"""Classic baselines for the benchmark: TF-IDF + logistic regression and a linear-chain CRF.

Two models a user could pick instead of the neural multi-task network, trained on the project's training split
and scored on its validation split with the project's own scoring (:func:`tweetner.metrics.competition_scores`),
so their rows can stand beside the network's:

* relevance: word 1-2 grams and character 2-5 grams (TF-IDF, sublinear tf) fed to a class-balanced logistic
  regression. The regularisation strength C and the decision threshold are chosen by grouped cross-validation on
  the training split, to maximise the competition's F1 of TPR and TNR; the validation split is never looked at
  before scoring.
* tags: a linear-chain CRF (sklearn-crfsuite, L-BFGS with elastic-net penalty) over hand-made word features
  (Lafferty et al. 2001; feature set in the spirit of the CoNLL-2003 feature-based taggers). It is trained on the
  relevant training tweets only, because irrelevant ones carry no tags, and tags every validation tweet: the
  headline NER score judges the tagger on gold-relevant tweets whatever the relevance decision.

Command line::

    python -m benchmarks.baselines [--data PATH] [--val-fraction 0.1] [--seed 13] [--json OUT]

TensorFlow is never imported here. sklearn-crfsuite is an optional dependency (the ``bench`` extra) and is only
imported when the tagger is trained.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The competition file lives beside the checkout, never inside it (licence terms); same rule as tests/conftest.py.
DEFAULT_DATA = Path(
    os.environ.get(
        "TWEETNER_TRAIN_CSV", Path(__file__).resolve().parents[2] / "shared" / "data" / "mlcs2019" / "train.csv"
    )
)

# Version-like words: "2.1.142", "v10.3", "7.0-rc1", "sp1", "r2". Bare integers are not matched on purpose: they
# are years, counts and CVE parts as often as versions, and the `is_digit` feature covers them separately.
VERSION_RE = re.compile(r"^(?:v?\d+(?:\.\d+)+[a-z0-9-]*|(?:v|sp|r|rc|build)\d+[a-z]?)$")
# CVE identifiers in the cleaned form: the colon and dots survive cleaning, so "cve-2017-0144" stays one word.
CVE_RE = re.compile(r"^cve-\d{4}-\d+")


# ---------------------------------------------------------------------------
# Tagger features


def word_shape(word: str) -> str:
    """Maps letters to "a", digits to "0" and keeps other characters: "cve-2017" -> "aaa-0000"."""
    return "".join("a" if c.isalpha() else "0" if c.isdigit() else c for c in word)


def short_shape(word: str) -> str:
    """word_shape with runs of one class collapsed: "cve-2017-0144" -> "a-0-0", "2.1.142" -> "0.0.0"."""
    return re.sub(r"(.)\1+", r"\1", word_shape(word))


def _context(word: str, prefix: str) -> dict[str, Any]:
    """The few features of a neighbouring word, keys prefixed with its offset ("-1:", "+2:")."""
    return {
        f"{prefix}lower": word.lower(),
        f"{prefix}shape": short_shape(word),
        f"{prefix}suffix3": word[-3:].lower(),
        f"{prefix}version": bool(VERSION_RE.match(word.lower())),
    }


def token_features(tokens: Sequence[str], i: int) -> dict[str, Any]:
    """Hand-made CRF features of one word in its tweet.

    Args:
        tokens: the words of one tweet, shape [n].
        i: position of the word to describe, 0 <= i < n.

    Returns:
        A flat dict of feature name -> str, bool or float, as sklearn-crfsuite expects: the lower form,
        prefixes and suffixes of 1-4 characters, the full and collapsed shapes, digit/hyphen/dot/colon/underscore
        flags, the "cve-" prefix and a CVE-identifier match, the version-like regex, the relative position and
        begin/end-of-tweet marks, and for the neighbours at -2, -1, +1, +2 their lower form, collapsed shape,
        3-character suffix and version flag ("BOS"/"EOS" marks where the tweet ends).
    """
    word = tokens[i]
    lower = word.lower()
    n = len(tokens)
    features: dict[str, Any] = {
        "bias": 1.0,
        "lower": lower,
        "shape": word_shape(word),
        "short_shape": short_shape(word),
        "length": min(len(word), 12) / 12.0,
        "is_digit": lower.isdigit(),
        "has_digit": any(c.isdigit() for c in lower),
        "all_alpha": lower.isalpha(),
        "has_hyphen": "-" in lower,
        "has_dot": "." in lower,
        "has_colon": ":" in lower,
        "has_underscore": "_" in lower,
        "cve_prefix": lower.startswith("cve-"),
        "cve_id": bool(CVE_RE.match(lower)),
        "version": bool(VERSION_RE.match(lower)),
        "position": i / max(n - 1, 1),
        "first": i == 0,
        "last": i == n - 1,
    }
    for k in range(1, 5):
        features[f"prefix{k}"] = lower[:k]
        features[f"suffix{k}"] = lower[-k:]
    for offset in (-2, -1, 1, 2):
        j = i + offset
        prefix = f"{offset:+d}:"
        if 0 <= j < n:
            features.update(_context(tokens[j], prefix))
        else:
            # One mark per missing side, so the CRF can learn "first/last word" patterns from the neighbours too.
            features[f"{prefix}{'BOS' if j < 0 else 'EOS'}"] = True
    # Word pairs around the token carry most of the phrase evidence ("windows 7", "remote code").
    if i > 0:
        features["-1:0:bigram"] = f"{tokens[i - 1].lower()}|{lower}"
    if i < n - 1:
        features["0:+1:bigram"] = f"{lower}|{tokens[i + 1].lower()}"
    return features


def tweet_features(tokens: Sequence[str]) -> list[dict[str, Any]]:
    """Features of every word of one tweet, shape [n] (empty for an empty tweet)."""
    return [token_features(tokens, i) for i in range(len(tokens))]


class CRFTagger:
    """Linear-chain CRF tagger over :func:`token_features` (Lafferty et al. 2001), via sklearn-crfsuite.

    Args:
        c1: L1 penalty (sparse feature selection).
        c2: L2 penalty.
        max_iterations: L-BFGS iterations.
    """

    def __init__(self, c1: float = 0.05, c2: float = 0.05, max_iterations: int = 150):
        self.c1 = c1
        self.c2 = c2
        self.max_iterations = max_iterations
        self._crf = None

    def fit(self, token_seqs: Sequence[Sequence[str]], tag_seqs: Sequence[Sequence[str]]) -> "CRFTagger":
        """Trains on tagged tweets.

        Args:
            token_seqs: words per tweet, [num_tweets][n_i].
            tag_seqs: IOB tags per tweet, [num_tweets][n_i].

        Returns:
            self.

        Raises:
            ValueError: if the counts or a tweet's lengths differ, or no tweet has words.
            ImportError: if sklearn-crfsuite is not installed.
        """
        if len(token_seqs) != len(tag_seqs):
            raise ValueError(f"{len(token_seqs)} tweets but {len(tag_seqs)} tag sequences")
        pairs = []
        for k, (tokens, tags) in enumerate(zip(token_seqs, tag_seqs)):
            if len(tokens) != len(tags):
                raise ValueError(f"tweet {k} has {len(tokens)} words but {len(tags)} tags")
            if tokens:  # crfsuite cannot learn from an empty sequence
                pairs.append((tweet_features(tokens), list(tags)))
        if not pairs:
            raise ValueError("no tagged tweet with words to train the tagger on")
        import sklearn_crfsuite  # optional dependency, imported only when a tagger is trained

        self._crf = sklearn_crfsuite.CRF(
            algorithm="lbfgs",
            c1=self.c1,
            c2=self.c2,
            max_iterations=self.max_iterations,
            # Transitions never seen in training (e.g. O -> I-VER) get a weight too, so the model learns to avoid them.
            all_possible_transitions=True,
        )
        self._crf.fit([x for x, _ in pairs], [y for _, y in pairs])
        return self

    def predict(self, token_seqs: Sequence[Sequence[str]]) -> list[list[str]]:
        """Viterbi-decodes the best tag path of each tweet.

        Args:
            token_seqs: words per tweet, [num_tweets][n_i].

        Returns:
            IOB tags, [num_tweets][n_i] ([] for an empty tweet).
        """
        if self._crf is None:
            raise RuntimeError("CRFTagger.predict called before fit")
        out: list[list[str]] = [[] for _ in token_seqs]
        nonempty = [k for k, tokens in enumerate(token_seqs) if tokens]
        if nonempty:
            paths = self._crf.predict([tweet_features(token_seqs[k]) for k in nonempty])
            for k, path in zip(nonempty, paths):
                out[k] = list(path)
        return out


# ---------------------------------------------------------------------------
# Relevance


def tpr_tnr_f1(labels: Sequence[int], predictions: Sequence[int]) -> float:
    """The competition's relevance F1, 2*TPR*TNR/(TPR+TNR), for 0/1 arrays of shape [n] (0 when undefined)."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(predictions, dtype=bool)
    tpr = (y & p).sum() / y.sum() if y.any() else 0.0
    tnr = (~y & ~p).sum() / (~y).sum() if (~y).any() else 0.0
    return float(2 * tpr * tnr / (tpr + tnr)) if tpr + tnr else 0.0


def best_threshold(labels: Sequence[int], scores: Sequence[float]) -> tuple[float, float]:
    """The decision threshold that maximises the F1 of TPR and TNR on scored examples.

    Every cut between two consecutive distinct scores is tried at once with cumulative counts (O(n log n)).
    The returned threshold lies halfway between the lowest score predicted 1 and the next lower one, so a new score
    that falls between the two is not decided by an accident of the sample.

    Args:
        labels: gold labels, shape [n], 0 or 1; both classes must occur.
        scores: classifier scores, shape [n]; higher means more likely 1. Predict 1 when score >= threshold.

    Returns:
        (threshold, f1) where f1 is the F1 of TPR and TNR that threshold reaches on these examples.

    Raises:
        ValueError: if the shapes differ or a class is missing.
    """
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be two vectors of the same length")
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    if positives == 0 or negatives == 0:
        raise ValueError(f"both classes are needed to choose a threshold ({positives} positive, {negatives} negative)")
    # Distinct scores in descending order; cutting just below the k-th one predicts 1 for the top k groups.
    distinct, inverse = np.unique(-s, return_inverse=True)
    distinct = -distinct
    tp = np.cumsum(np.bincount(inverse, weights=(y == 1).astype(np.float64), minlength=len(distinct)))
    fp = np.cumsum(np.bincount(inverse, weights=(y == 0).astype(np.float64), minlength=len(distinct)))
    tpr = tp / positives
    tnr = 1.0 - fp / negatives
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tpr + tnr > 0, 2 * tpr * tnr / (tpr + tnr), 0.0)
    k = int(np.argmax(f1))  # first maximum: the highest threshold among equals, i.e. the fewest positives
    threshold = (distinct[k] + distinct[k + 1]) / 2 if k + 1 < len(distinct) else float(distinct[k])
    return float(threshold), float(f1[k])


def _vectorizer():
    """Word 1-2 gram and character 2-5 gram TF-IDF, side by side (sparse [n, features])."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    return make_union(
        # Cleaned tweets are space-separated words; the default pattern would split "cve-2017-0144" and "2.1.142".
        TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True, min_df=2),
        # char_wb pads each word with spaces, so prefixes and suffixes become n-grams of their own.
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )


def _classifier(c: float):
    from sklearn.linear_model import LogisticRegression

    # Balanced weights: relevant tweets are ~40 % of the file, and the score weighs TPR and TNR equally.
    return LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=2000)


class RelevanceBaseline:
    """TF-IDF (word 1-2 grams + char 2-5 grams) and class-balanced logistic regression, with a tuned threshold.

    ``fit`` picks C from ``c_values`` and the decision threshold by grouped, stratified k-fold cross-validation on
    the data it is given: identical texts stay in one fold (the training file repeats ~2,200 texts, and a repeated
    tweet in both folds would make every C look better than it is), the out-of-fold scores of each C are pooled,
    and the (C, threshold) pair with the best F1 of TPR and TNR wins. The final model is then refitted on all the
    data with that C.

    Args:
        c_values: inverse regularisation strengths to try.
        folds: cross-validation folds (at least 2).
        seed: seed of the fold assignment.
    """

    def __init__(self, c_values: Sequence[float] = (1.0, 4.0, 16.0), folds: int = 3, seed: int = 13):
        if folds < 2:
            raise ValueError(f"folds must be at least 2, got {folds}")
        if not c_values:
            raise ValueError("c_values must name at least one value")
        self.c_values = tuple(float(c) for c in c_values)
        self.folds = folds
        self.seed = seed
        self.c_: float | None = None
        self.threshold_: float | None = None
        self.cv_f1_: float | None = None
        self.cv_table_: list[dict[str, float]] = []
        self._vectorizer = None
        self._model = None

    def fit(self, texts: Sequence[str], labels: Sequence[int]) -> "RelevanceBaseline":
        """Chooses C and the threshold by cross-validation, then trains on everything.

        Args:
            texts: cleaned tweets, shape [n].
            labels: relevance, shape [n], 0 or 1.

        Returns:
            self.

        Raises:
            ValueError: if the lengths differ, a class is missing, or there are fewer distinct texts of a class
                than folds.
        """
        from sklearn.model_selection import StratifiedGroupKFold

        texts = list(texts)
        y = np.asarray(labels, dtype=np.int64)
        if len(texts) != len(y):
            raise ValueError(f"{len(texts)} texts but {len(y)} labels")
        for cls in (0, 1):
            distinct = len({t.strip() for t, label in zip(texts, y) if label == cls})
            if distinct < self.folds:
                raise ValueError(
                    f"class {cls} has {distinct} distinct texts, fewer than the {self.folds} cross-validation folds"
                )
        groups = [t.strip() for t in texts]
        oof = {c: np.zeros(len(y)) for c in self.c_values}
        splitter = StratifiedGroupKFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
        for fit_idx, held_idx in splitter.split(texts, y, groups):
            vectorizer = _vectorizer()
            x_fit = vectorizer.fit_transform([texts[i] for i in fit_idx])
            x_held = vectorizer.transform([texts[i] for i in held_idx])
            for c in self.c_values:
                model = _classifier(c).fit(x_fit, y[fit_idx])
                oof[c][held_idx] = model.decision_function(x_held)
        self.cv_table_ = []
        for c in self.c_values:
            threshold, f1 = best_threshold(y, oof[c])
            self.cv_table_.append({"C": c, "threshold": threshold, "f1": f1})
        best = max(self.cv_table_, key=lambda row: row["f1"])  # first best: the strongest regularisation among ties
        self.c_, self.threshold_, self.cv_f1_ = best["C"], best["threshold"], best["f1"]
        self._vectorizer = _vectorizer()
        self._model = _classifier(self.c_).fit(self._vectorizer.fit_transform(texts), y)
        return self

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Logistic-regression margins, shape [n] float (compare with ``threshold_``)."""
        if self._model is None:
            raise RuntimeError("RelevanceBaseline used before fit")
        return self._model.decision_function(self._vectorizer.transform(list(texts)))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Relevance decisions, shape [n] int64, 1 where the margin reaches the chosen threshold."""
        return (self.decision_function(texts) >= self.threshold_).astype(np.int64)


# ---------------------------------------------------------------------------
# Benchmark


def run_baselines(
    train_ex: Sequence[Any],
    val_ex: Sequence[Any],
    *,
    seed: int = 13,
    relevance: RelevanceBaseline | None = None,
    tagger: CRFTagger | None = None,
) -> dict[str, Any]:
    """Trains both baselines on ``train_ex`` and scores them on ``val_ex`` with the competition scoring.

    Args:
        train_ex: training tweets, [n_train] ``tweetner.data.Example``.
        val_ex: validation tweets, [n_val] ``tweetner.data.Example``; only read for prediction and scoring.
        seed: seed of the relevance cross-validation folds (ignored when ``relevance`` is given).
        relevance: an unfitted relevance model to use instead of the default one (e.g. a smaller C grid).
        tagger: an unfitted tagger to use instead of the default one.

    Returns:
        ``{"name", "n_train", "n_val", "n_train_tagged", "relevance": {"C", "threshold", "cv_f1", "cv"},
        "timing": {"relevance_train_s", "tagger_train_s", "train_s", "relevance_predict_tweets_per_s",
        "tagger_predict_tweets_per_s", "predict_tweets_per_s"}, "scores", "table", "predictions": {"labels",
        "tags"}}`` where ``scores`` is :func:`tweetner.metrics.competition_scores` on the validation tweets,
        ``table`` its :func:`tweetner.metrics.format_table` text and ``predictions`` the [n_val] labels and
        [n_val][n_i] tags. Timings are wall-clock seconds on this machine.

    Raises:
        ValueError: if the training tweets lack a class, tagged tweets, or enough distinct texts for the folds.
    """
    from tweetner.metrics import competition_scores, format_table

    relevance = relevance if relevance is not None else RelevanceBaseline(seed=seed)
    tagger = tagger if tagger is not None else CRFTagger()
    tagged = [ex for ex in train_ex if ex.relevant == 1 and ex.tags is not None]

    start = time.perf_counter()
    relevance.fit([ex.text for ex in train_ex], [ex.relevant for ex in train_ex])
    relevance_train = time.perf_counter() - start

    start = time.perf_counter()
    tagger.fit([ex.tokens for ex in tagged], [ex.tags for ex in tagged])
    tagger_train = time.perf_counter() - start

    start = time.perf_counter()
    labels = [int(v) for v in relevance.predict([ex.text for ex in val_ex])]
    relevance_predict = time.perf_counter() - start

    start = time.perf_counter()
    tags = tagger.predict([ex.tokens for ex in val_ex])
    tagger_predict = time.perf_counter() - start

    scores = competition_scores(val_ex, labels, tags)

    def rate(seconds: float) -> float:
        # A floor of 1 microsecond keeps the JSON finite when a tiny set is predicted faster than the clock ticks.
        return len(val_ex) / max(seconds, 1e-6)

    return {
        "name": "TF-IDF + logistic regression / feature CRF",
        "n_train": len(train_ex),
        "n_val": len(val_ex),
        "n_train_tagged": len(tagged),
        "relevance": {
            "C": relevance.c_,
            "threshold": relevance.threshold_,
            "cv_f1": relevance.cv_f1_,
            "cv": relevance.cv_table_,
        },
        "timing": {
            "relevance_train_s": relevance_train,
            "tagger_train_s": tagger_train,
            "train_s": relevance_train + tagger_train,
            "relevance_predict_tweets_per_s": rate(relevance_predict),
            "tagger_predict_tweets_per_s": rate(tagger_predict),
            "predict_tweets_per_s": rate(relevance_predict + tagger_predict),
        },
        "scores": scores,
        "table": format_table(scores),
        "predictions": {"labels": labels, "tags": tags},
    }


def format_report(result: dict[str, Any]) -> str:
    """The text printed by the command: settings, the competition table, then timings."""
    rel, timing = result["relevance"], result["timing"]
    cv = ", ".join(f"C={row['C']:g}: F1 {row['f1']:.4f}" for row in rel["cv"])
    return "\n".join(
        [
            f"Baselines: {result['name']}",
            f"train {result['n_train']} tweets ({result['n_train_tagged']} tagged), validation {result['n_val']}",
            f"relevance: cross-validated on the training split ({cv}); chose C={rel['C']:g}, "
            f"threshold {rel['threshold']:.4f} on the margin",
            "",
            result["table"],
            "",
            f"Timing: train {timing['train_s']:.1f} s (relevance incl. cross-validation "
            f"{timing['relevance_train_s']:.1f} s, CRF {timing['tagger_train_s']:.1f} s); "
            f"predict {timing['predict_tweets_per_s']:.0f} tweets/s (relevance "
            f"{timing['relevance_predict_tweets_per_s']:.0f}/s, CRF {timing['tagger_predict_tweets_per_s']:.0f}/s)",
        ]
    )


def _fraction(value: str) -> float:
    number = float(value)
    if not 0.0 < number < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.baselines",
        description=(
            "Train two classic baselines on the training split of a competition CSV and score them on its "
            "validation split with the competition scoring: TF-IDF (word 1-2 grams, char 2-5 grams) + "
            "class-balanced logistic regression for relevance, with C and the threshold chosen by grouped "
            "cross-validation on the training split; a linear-chain CRF over hand-made word features for the tags, "
            "trained on the relevant training tweets. Prints the per-case-study table and timings."
        ),
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA,
        help=f"competition CSV (clean_tweet,relevant,entities[,A,B,C]); default {DEFAULT_DATA} "
        "(or $TWEETNER_TRAIN_CSV)",
    )
    parser.add_argument(
        "--val-fraction", type=_fraction, default=0.1,
        help="share of distinct texts held out for validation, stratified by label and case study (default 0.1)",
    )
    parser.add_argument("--seed", type=int, default=13, help="seed of the split and of the CV folds (default 13)")
    parser.add_argument(
        "--json", type=Path, default=None, metavar="OUT",
        help="also write the full result (scores, timings, chosen settings, predictions) to this JSON file",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2 for bad input, with one line on stderr)."""
    args = build_parser().parse_args(argv)
    from tweetner.data import DataError, load_csv
    from tweetner.split import split_train_val

    try:
        # load_csv reports a missing, unreadable or malformed file as "path:line: problem".
        examples, _ = load_csv(args.data, repair_iob=True)
    except DataError as error:
        print(str(error), file=sys.stderr)
        return 2
    try:
        import sklearn_crfsuite  # noqa: F401  (checked before minutes of training, not after)
    except ImportError:
        print("sklearn-crfsuite is not installed: pip install 'tweetner[bench]'", file=sys.stderr)
        return 2
    train_ex, val_ex = split_train_val(examples, args.val_fraction, args.seed)
    try:
        result = run_baselines(train_ex, val_ex, seed=args.seed)
    except ValueError as error:
        print(f"{args.data}: cannot train the baselines: {error}", file=sys.stderr)
        return 2
    print(format_report(result))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        except OSError as error:
            print(f"{args.json}: cannot write: {error.strerror}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
