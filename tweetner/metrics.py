"""Competition scoring: tweet relevance and IOB named-entity recognition.

Pure Python (no TensorFlow, no NumPy needed), so evaluation runs anywhere the
package installs. The MLCS 2019 rules score the two tasks separately:

* relevance: F1 of TPR and TNR, ``2 * TPR * TNR / (TPR + TNR)`` (not the usual
  precision/recall F1), computed per case study;
* NER: precision/recall F1, computed per case study on the relevant tweets.

Both are then averaged over the case studies (A, B, C). The NER score is given
at two levels that are never mixed: ``"entity"`` (whole chunks with conlleval
semantics, the usual reading of the rules) and ``"token"`` (each tagged word on
its own, B/I ignored), which is easier to move and useful for diagnosis.

Conventions (the conlleval ones): precision is 0 when nothing was predicted,
recall is 0 when there is nothing to find, F1 is 0 when P + R == 0. For
relevance, TPR is 0 when there are no gold positives and TNR is 0 when there are
no gold negatives.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any

from tweetner.data import CASES, TAG_TYPES

# Name of the single case study used when the gold file has no A/B/C flags.
ALL_STUDY = "all"

Span = tuple[str, int, int]


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 when the denominator is 0 (conlleval convention)."""
    return numerator / denominator if denominator else 0.0


def _harmonic(a: float, b: float) -> float:
    """2ab / (a + b), 0.0 when a + b == 0."""
    return 2.0 * a * b / (a + b) if a + b else 0.0


# ---------------------------------------------------------------------------
# Relevance


def relevance_scores(gold: Sequence[int], pred: Sequence[int]) -> dict[str, Any]:
    """Scores the binary relevance task the way the competition does.

    Args:
        gold: gold labels, shape [n], each 0 or 1 (bools accepted).
        pred: predicted labels, shape [n], each 0 or 1.

    Returns:
        ``{"n", "tp", "fp", "tn", "fn", "tpr", "tnr", "f1", "precision",
        "accuracy"}`` where ``f1 = 2 * tpr * tnr / (tpr + tnr)`` (0 when both are
        0). TPR is defined as 0 when there are no gold positives and TNR as 0
        when there are no gold negatives, so a degenerate split cannot score 1
        by accident; precision (tp / (tp + fp), 0 when nothing is predicted 1)
        and accuracy (0 for n == 0) are given for information only.

    Raises:
        ValueError: if the lengths differ or a label is not 0 or 1.
    """
    gold = [_label(v, "gold") for v in gold]
    pred = [_label(v, "predicted") for v in pred]
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predicted labels")
    tp = sum(1 for g, p in zip(gold, pred) if g == 1 and p == 1)
    fp = sum(1 for g, p in zip(gold, pred) if g == 0 and p == 1)
    tn = sum(1 for g, p in zip(gold, pred) if g == 0 and p == 0)
    fn = sum(1 for g, p in zip(gold, pred) if g == 1 and p == 0)
    tpr = _ratio(tp, tp + fn)
    tnr = _ratio(tn, tn + fp)
    return {
        "n": len(gold),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "tpr": tpr,
        "tnr": tnr,
        "f1": _harmonic(tpr, tnr),
        "precision": _ratio(tp, tp + fp),
        "accuracy": _ratio(tp + tn, len(gold)),
    }


def _label(value: Any, which: str) -> int:
    """Returns value as 0 or 1; ValueError for anything else (2, 0.5, "1").

    Any integer type is accepted (bool, int, NumPy integers) through
    ``operator.index``, which refuses floats and strings.
    """
    try:
        number = operator.index(value)
    except TypeError:
        number = None
    if number not in (0, 1):
        raise ValueError(f"{which} relevance label must be 0 or 1, got {value!r}")
    return number


# ---------------------------------------------------------------------------
# IOB chunks


def _split_tag(tag: str) -> tuple[str, str | None]:
    """Splits an IOB tag into (prefix, type): "B-ORG" -> ("B", "ORG"), "O" -> ("O", None)."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in ("B", "I") or not kind:
        raise ValueError(f"malformed IOB tag {tag!r}: expected 'O', 'B-<type>' or 'I-<type>'")
    return prefix, kind


def iob_spans(tags: Sequence[str]) -> list[Span]:
    """Extracts the entity chunks of an IOB tag sequence, with conlleval semantics.

    A chunk starts at ``B-X``, or at ``I-X`` when the previous tag is ``O``, of
    another type, or absent (sequence start): a stray ``I-X`` is read as the
    start of an entity rather than dropped, exactly as the CoNLL ``conlleval``
    script and seqeval's default mode do. A chunk ends before the first tag
    that is not ``I-`` of its own type (so ``B-X B-X`` is two chunks).

    Args:
        tags: IOB tags, shape [n] ("O", "B-X" or "I-X" for any type X).

    Returns:
        ``(type, start, end_exclusive)`` triples in order of position.

    Raises:
        ValueError: for a tag that is not O, B-X or I-X.
    """
    spans: list[Span] = []
    open_kind: str | None = None  # type of the chunk being read, None outside chunks
    start = 0
    for i, tag in enumerate(tags):
        prefix, kind = _split_tag(tag)
        if prefix == "I" and kind == open_kind:
            continue  # the open chunk goes on
        if open_kind is not None:
            spans.append((open_kind, start, i))
        # Both B-X and a stray I-X (after O or another type) open a new chunk.
        open_kind, start = (None, i) if prefix == "O" else (kind, i)
    if open_kind is not None:
        spans.append((open_kind, start, len(tags)))
    return spans


def _tag_type(tag: str) -> str | None:
    """Entity type of one tag regardless of B/I ("I-VER" -> "VER"), None for O."""
    return _split_tag(tag)[1]


# ---------------------------------------------------------------------------
# NER scores


def _align(
    gold_seqs: Iterable[Sequence[str]], pred_seqs: Iterable[Sequence[str] | None]
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], int]:
    """Brings every prediction to the length of its gold sequence.

    A prediction that is too long is truncated, one that is too short is padded
    with O (missing words count as "no entity"), and both are counted as
    misaligned. ``None`` stands for "no tags given" and becomes all O without
    counting as misaligned (a tweet predicted irrelevant may omit its tags).

    Returns:
        (gold, pred, misaligned): two lists of equal-length tag tuples and the
        number of predictions whose length had to be changed.

    Raises:
        ValueError: if the numbers of sequences differ.
    """
    gold = [tuple(g) for g in gold_seqs]
    pred_in = list(pred_seqs)
    if len(gold) != len(pred_in):
        raise ValueError(f"{len(gold)} gold tag sequences but {len(pred_in)} predicted ones")
    pred: list[tuple[str, ...]] = []
    misaligned = 0
    for g, p in zip(gold, pred_in):
        p = ("O",) * len(g) if p is None else tuple(p)
        if len(p) != len(g):
            misaligned += 1
            p = p[: len(g)] + ("O",) * (len(g) - len(p))
        pred.append(p)
    return gold, pred, misaligned


def _prf(correct: int, support: int, predicted: int) -> dict[str, Any]:
    """Precision, recall and F1 from counts (conlleval conventions for zeros)."""
    precision = _ratio(correct, predicted)
    recall = _ratio(correct, support)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _harmonic(precision, recall),
        "correct": correct,
        "support": support,
        "predicted": predicted,
    }


def _summarise(
    level: str, counts: dict[str, list[int]], sequences: int, misaligned: int
) -> dict[str, Any]:
    """Per-type, micro and macro scores from per-type [correct, support, predicted] counts."""
    per_type = {kind: _prf(*c) for kind, c in counts.items()}
    micro = _prf(*(sum(c[j] for c in counts.values()) for j in range(3)))
    # Macro leaves out types absent from both gold and predictions: their 0/0
    # scores say nothing about the model and would only drag the mean down.
    present = [kind for kind, s in per_type.items() if s["support"] or s["predicted"]]
    macro = {
        key: _ratio(sum(per_type[k][key] for k in present), len(present))
        for key in ("precision", "recall", "f1")
    }
    macro["types"] = present
    return {
        "level": level,
        "per_type": per_type,
        "micro": micro,
        "macro": macro,
        "sequences": sequences,
        "misaligned": misaligned,
    }


def entity_scores(
    gold_seqs: Iterable[Sequence[str]],
    pred_seqs: Iterable[Sequence[str] | None],
    types: Sequence[str] = TAG_TYPES,
) -> dict[str, Any]:
    """Entity-level (chunk) precision, recall and F1, as conlleval computes them.

    A predicted chunk is correct when a gold chunk has the same type, start and
    end (see :func:`iob_spans`). Chunks of types outside ``types`` are ignored.

    Args:
        gold_seqs: gold IOB tag sequences, [num_sequences][length_i].
        pred_seqs: predicted sequences, same count; each is padded with O or
            truncated to its gold length (counted in ``"misaligned"``); None
            means "no tags" (all O, not misaligned).
        types: entity types to score, in report order.

    Returns:
        ``{"level": "entity", "per_type": {type: scores}, "micro": scores,
        "macro": {"precision", "recall", "f1", "types"}, "sequences",
        "misaligned"}`` where each ``scores`` is ``{"precision", "recall",
        "f1", "correct", "support", "predicted"}`` counted in chunks. Micro pools
        the counts of all types; macro is the mean of the per-type values over
        the types present in gold or predictions (``"types"``), 0 when none is.

    Raises:
        ValueError: if the sequence counts differ or a tag is malformed.
    """
    gold, pred, misaligned = _align(gold_seqs, pred_seqs)
    counts = {kind: [0, 0, 0] for kind in types}  # [correct, support, predicted]
    for g, p in zip(gold, pred):
        gold_spans = set(iob_spans(g))
        pred_spans = set(iob_spans(p))
        for kind, _, _ in gold_spans:
            if kind in counts:
                counts[kind][1] += 1
        for kind, _, _ in pred_spans:
            if kind in counts:
                counts[kind][2] += 1
        for kind, _, _ in gold_spans & pred_spans:
            if kind in counts:
                counts[kind][0] += 1
    return _summarise("entity", counts, len(gold), misaligned)


def token_scores(
    gold_seqs: Iterable[Sequence[str]],
    pred_seqs: Iterable[Sequence[str] | None],
    types: Sequence[str] = TAG_TYPES,
) -> dict[str, Any]:
    """Token-level precision, recall and F1, B/I ignored.

    Each word counts for type X when its tag is ``B-X`` or ``I-X``; a predicted
    X word is correct when the gold word is X too. O words are not scored
    (they would swamp the figures). Easier to improve than the entity level,
    since a chunk with one wrong boundary still earns most of its words.

    Args:
        gold_seqs: gold IOB tag sequences, [num_sequences][length_i].
        pred_seqs: predicted sequences, aligned as in :func:`entity_scores`.
        types: entity types to score, in report order.

    Returns:
        The same layout as :func:`entity_scores` with ``"level": "token"``;
        correct/support/predicted are counted in words.

    Raises:
        ValueError: if the sequence counts differ or a tag is malformed.
    """
    gold, pred, misaligned = _align(gold_seqs, pred_seqs)
    counts = {kind: [0, 0, 0] for kind in types}  # [correct, support, predicted]
    for g, p in zip(gold, pred):
        for gold_tag, pred_tag in zip(g, p):
            gold_kind, pred_kind = _tag_type(gold_tag), _tag_type(pred_tag)
            if gold_kind in counts:
                counts[gold_kind][1] += 1
            if pred_kind in counts:
                counts[pred_kind][2] += 1
                if pred_kind == gold_kind:
                    counts[pred_kind][0] += 1
    return _summarise("token", counts, len(gold), misaligned)


# ---------------------------------------------------------------------------
# Competition


def _studies(examples: Sequence[Any], cases: Sequence[str] | None) -> list[str]:
    """Case studies to score: those asked for, else A/B/C flagged in gold, else "all"."""
    if cases is not None:
        cases = list(cases)
        if not cases:
            raise ValueError("cases must name at least one case study")
        for name in cases:
            if name != ALL_STUDY and not any(name in ex.cases for ex in examples):
                raise ValueError(f"case study {name!r} has no tweets in the gold data")
        return cases
    flagged = [name for name in CASES if any(name in ex.cases for ex in examples)]
    return flagged or [ALL_STUDY]


def _ner_pair(gold: list[tuple[str, ...]], pred: list[Sequence[str] | None]) -> dict[str, Any]:
    """Entity- and token-level scores of one set of predictions."""
    return {"entity": entity_scores(gold, pred), "token": token_scores(gold, pred)}


def _study_scores(examples: Sequence[Any], labels: list[int], tags: list[Any]) -> dict[str, Any]:
    """Relevance and the two NER readings for the tweets of one case study."""
    relevant = [i for i, ex in enumerate(examples) if ex.relevant == 1]
    # A relevant row always has tags in valid data; all O is the safe reading otherwise.
    gold = [
        tuple(examples[i].tags) if examples[i].tags is not None else ("O",) * len(examples[i].tokens)
        for i in relevant
    ]
    headline = [tags[i] for i in relevant]
    # The pipeline reading: a tweet the classifier rejects never reaches the tagger.
    pipeline = [tags[i] if labels[i] == 1 else None for i in relevant]
    return {
        "n_tweets": len(examples),
        "n_relevant": len(relevant),
        "relevance": relevance_scores([ex.relevant for ex in examples], labels),
        "ner": {"headline": _ner_pair(gold, headline), "pipeline": _ner_pair(gold, pipeline)},
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _average(studies: list[dict[str, Any]]) -> dict[str, Any]:
    """Simple mean over case studies of every F1 and its P/R (TPR/TNR for relevance)."""
    average: dict[str, Any] = {
        "relevance": {
            key: _mean([s["relevance"][key] for s in studies])
            for key in ("tpr", "tnr", "f1", "precision", "accuracy")
        },
        "ner": {},
    }
    prf = ("precision", "recall", "f1")
    for reading in ("headline", "pipeline"):
        average["ner"][reading] = {}
        for level in ("entity", "token"):
            level_scores = [s["ner"][reading][level] for s in studies]
            first = level_scores[0]
            average["ner"][reading][level] = {
                "level": level,
                "micro": {k: _mean([x["micro"][k] for x in level_scores]) for k in prf},
                "macro": {k: _mean([x["macro"][k] for x in level_scores]) for k in prf},
                "per_type": {
                    kind: {k: _mean([x["per_type"][kind][k] for x in level_scores]) for k in prf}
                    for kind in first["per_type"]
                },
            }
    return average


def competition_scores(
    gold_examples: Sequence[Any],
    pred_labels: Sequence[int],
    pred_tags: Sequence[Sequence[str] | None],
    cases: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Scores predictions the way the competition ranks them, plus diagnostics.

    For each case study, on the tweets flagged for it (a tweet may be in
    several): relevance scores on all of them, and NER on the gold-relevant
    ones, read twice:

    * ``"headline"``: the predicted tags whatever the predicted label (the NER
      scoreboard judges the tagger alone); a tweet with no tags is all O;
    * ``"pipeline"``: a tweet predicted 0 counts as all O (what an analyst
      would see from the deployed system).

    Each reading has ``"entity"`` and ``"token"`` levels. ``"average"`` is the
    simple mean over case studies of every per-study F1, P and R; the tie-break
    distance is ``sqrt((1 - relevance F1)^2 + (1 - NER F1)^2)`` with the
    averaged relevance F1 and the averaged headline entity micro F1.

    Args:
        gold_examples: gold tweets, shape [n]; objects with ``relevant``,
            ``tags`` (None for irrelevant rows), ``cases`` and ``tokens``
            (``tweetner.data.Example``).
        pred_labels: predicted relevance, shape [n], 0 or 1.
        pred_tags: predicted tags, [n][length_i] or None for "no tags";
            lengths that differ from the tweet's are padded/truncated.
        cases: case studies to score ("all" means every tweet). Default: those
            of A/B/C flagged on at least one gold tweet, or "all" when none is.

    Returns:
        ``{"case_studies": [names], "studies": {name: {"n_tweets",
        "n_relevant", "relevance", "ner": {"headline"|"pipeline": {"entity"|
        "token": ...}}}}, "average": {"relevance", "ner"}, "tie_break":
        {"relevance_f1", "entity_f1", "distance"}, "n_tweets", "misaligned"}``
        where ``"misaligned"`` counts the tweets (relevant or not) whose
        predicted tags were given with a length different from the tweet's.

    Raises:
        ValueError: if the three inputs differ in length, a label is not 0/1,
            a tag is malformed, or a requested case study has no tweets.
    """
    examples = list(gold_examples)
    labels = [_label(v, "predicted") for v in pred_labels]
    tags = [None if t is None else tuple(t) for t in pred_tags]
    if not len(examples) == len(labels) == len(tags):
        raise ValueError(
            f"{len(examples)} gold tweets, {len(labels)} predicted labels and "
            f"{len(tags)} predicted tag sequences: they must match"
        )
    names = _studies(examples, cases)
    studies = {}
    for name in names:
        idx = [i for i, ex in enumerate(examples) if name == ALL_STUDY or name in ex.cases]
        studies[name] = _study_scores(
            [examples[i] for i in idx], [labels[i] for i in idx], [tags[i] for i in idx]
        )
    average = _average(list(studies.values()))
    relevance_f1 = average["relevance"]["f1"]
    entity_f1 = average["ner"]["headline"]["entity"]["micro"]["f1"]
    return {
        "case_studies": names,
        "studies": studies,
        "average": average,
        "tie_break": {
            "relevance_f1": relevance_f1,
            "entity_f1": entity_f1,
            "distance": math.hypot(1.0 - relevance_f1, 1.0 - entity_f1),
        },
        "n_tweets": len(examples),
        "misaligned": sum(
            1 for ex, t in zip(examples, tags) if t is not None and len(t) != len(ex.tokens)
        ),
    }


# ---------------------------------------------------------------------------
# Text report


def _type_cell(type_scores: dict[str, Any]) -> str:
    """One per-type F1 cell: "-" when a study has no gold and no predicted entity of the type.

    Averaged scores carry no counts, so their cells always show the number.
    """
    if "support" in type_scores and not (type_scores["support"] or type_scores["predicted"]):
        return f"{'-':>8}"
    return f"{type_scores['f1']:>8.4f}"


def format_table(scores: dict[str, Any]) -> str:
    """Renders :func:`competition_scores` output as a plain-text report.

    One block per measure (relevance; entity-level and token-level NER, each
    in the headline and pipeline readings), one row per case study and one for
    the average over case studies, then the tie-break distance.

    Args:
        scores: the dict returned by :func:`competition_scores`.

    Returns:
        The report, lines joined with "\\n", no trailing newline.
    """
    names = scores["case_studies"]
    rows = [(name, scores["studies"][name]) for name in names]
    width = max(len("average"), *(len(n) for n in names)) + 2
    lines = [
        f"{scores['n_tweets']} tweets; case studies: {', '.join(names)}; "
        f"scores are averaged over case studies with equal weight.",
        "",
        "Relevance (F1 = 2*TPR*TNR/(TPR+TNR))",
        f"  {'':<{width}}{'tweets':>8}{'relevant':>10}{'TPR':>8}{'TNR':>8}{'F1':>8}",
    ]
    for name, study in rows:
        r = study["relevance"]
        lines.append(
            f"  {name:<{width}}{study['n_tweets']:>8}{study['n_relevant']:>10}"
            f"{r['tpr']:>8.4f}{r['tnr']:>8.4f}{r['f1']:>8.4f}"
        )
    a = scores["average"]["relevance"]
    lines.append(f"  {'average':<{width}}{'':>8}{'':>10}{a['tpr']:>8.4f}{a['tnr']:>8.4f}{a['f1']:>8.4f}")

    level_titles = {
        "entity": "Entity-level NER F1 (conlleval chunks)",
        "token": "Token-level NER F1 (words, B/I ignored)",
    }
    reading_titles = {
        "headline": "headline: predicted tags whatever the label",
        "pipeline": "pipeline: tweets predicted 0 are all O",
    }
    for level in ("entity", "token"):
        for reading in ("headline", "pipeline"):
            kinds = list(scores["average"]["ner"][reading][level]["per_type"])
            lines += ["", f"{level_titles[level]}, {reading_titles[reading]}"]
            lines.append(
                f"  {'':<{width}}{'micro':>8}{'macro':>8}" + "".join(f"{k:>8}" for k in kinds)
            )
            per_row = [(name, study["ner"][reading][level]) for name, study in rows]
            per_row.append(("average", scores["average"]["ner"][reading][level]))
            for name, s in per_row:
                lines.append(
                    f"  {name:<{width}}{s['micro']['f1']:>8.4f}{s['macro']['f1']:>8.4f}"
                    + "".join(_type_cell(s["per_type"][k]) for k in kinds)
                )
    tie = scores["tie_break"]
    lines += [
        "",
        "(-: type absent from both gold and predictions in that study; it counts as 0 in the average",
        "row, which is a plain mean over case studies, and is left out of that study's macro F1.)",
        "",
        f"Tie-break distance to (1, 1): {tie['distance']:.4f} "
        f"(average relevance F1 {tie['relevance_f1']:.4f}, "
        f"average headline entity micro F1 {tie['entity_f1']:.4f})",
    ]
    if scores["misaligned"]:
        lines.append(
            f"Misaligned: {scores['misaligned']} predictions had a tag count different "
            "from the tweet's word count (padded with O or truncated)."
        )
    return "\n".join(lines)
