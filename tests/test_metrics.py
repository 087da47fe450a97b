"""Tests for tweetner.metrics: hand-computed cases plus an independent conlleval re-implementation."""
from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tweetner.data import TAG_TYPES, TAGS, Example
from tweetner.metrics import (
    competition_scores,
    entity_scores,
    format_table,
    iob_spans,
    relevance_scores,
    token_scores,
)

# ---------------------------------------------------------------------------
# Relevance


def test_relevance_perfect_prediction_scores_one():
    s = relevance_scores([1, 0, 1, 0, 0], [1, 0, 1, 0, 0])
    assert (s["tp"], s["fp"], s["tn"], s["fn"]) == (2, 0, 3, 0)
    assert s["tpr"] == s["tnr"] == s["f1"] == s["precision"] == s["accuracy"] == 1.0


def test_relevance_half_right_by_hand():
    # gold 1 1 1 0 0 0 0 0 / pred 1 1 0 0 0 0 1 1 -> tp 2, fn 1, tn 3, fp 2.
    # TPR = 2/3, TNR = 3/5, F1 = 2*(2/3)*(3/5) / (2/3 + 3/5) = (4/5) / (19/15) = 12/19.
    s = relevance_scores([1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 1, 1])
    assert (s["tp"], s["fp"], s["tn"], s["fn"], s["n"]) == (2, 2, 3, 1, 8)
    assert s["tpr"] == pytest.approx(2 / 3)
    assert s["tnr"] == pytest.approx(3 / 5)
    assert s["f1"] == pytest.approx(12 / 19)
    assert s["precision"] == pytest.approx(2 / 4)
    assert s["accuracy"] == pytest.approx(5 / 8)


def test_relevance_f1_is_harmonic_mean_of_tpr_and_tnr_not_precision_recall():
    # All predicted 1: TPR 1, TNR 0 -> competition F1 0, although precision/recall F1 would be 2/3.
    s = relevance_scores([1, 1, 0, 0], [1, 1, 1, 1])
    assert s["tpr"] == 1.0 and s["tnr"] == 0.0 and s["f1"] == 0.0
    assert s["precision"] == 0.5


def test_relevance_with_no_positives_defines_tpr_as_zero():
    s = relevance_scores([0, 0, 0, 0], [0, 1, 0, 0])
    assert s["tp"] == s["fn"] == 0
    assert s["tpr"] == 0.0
    assert s["tnr"] == pytest.approx(3 / 4)
    assert s["f1"] == 0.0
    assert s["precision"] == 0.0  # one prediction of 1, none correct


def test_relevance_with_no_negatives_defines_tnr_as_zero():
    s = relevance_scores([1, 1], [1, 1])
    assert s["tpr"] == 1.0 and s["tnr"] == 0.0 and s["f1"] == 0.0


def test_relevance_empty_input_is_all_zero():
    s = relevance_scores([], [])
    assert s["n"] == 0 and s["f1"] == 0.0 and s["accuracy"] == 0.0


def test_relevance_accepts_numpy_and_bool_labels():
    np = pytest.importorskip("numpy")
    s = relevance_scores(np.array([1, 0]), [True, False])
    assert s["f1"] == 1.0


@pytest.mark.parametrize("bad", [2, -1, 0.5, "1", None])
def test_relevance_rejects_labels_other_than_zero_and_one(bad):
    with pytest.raises(ValueError, match="0 or 1"):
        relevance_scores([1, 0], [1, bad])


def test_relevance_rejects_length_mismatch():
    with pytest.raises(ValueError, match="3 gold labels but 2"):
        relevance_scores([1, 0, 1], [1, 0])


# ---------------------------------------------------------------------------
# IOB chunks (conlleval semantics)


@pytest.mark.parametrize(
    "tags, spans",
    [
        ([], []),
        (["O", "O"], []),
        (["B-ORG", "I-ORG", "O", "B-PRO"], [("ORG", 0, 2), ("PRO", 3, 4)]),  # entity at the end
        (["O", "I-VUL", "I-VUL"], [("VUL", 1, 3)]),  # I- after O starts a chunk
        (["I-ID", "O"], [("ID", 0, 1)]),  # I- at sequence start starts a chunk
        (["B-PRO", "I-VER"], [("PRO", 0, 1), ("VER", 1, 2)]),  # I-X after B-Y: new chunk of X
        (["B-PRO", "I-VER", "I-VER"], [("PRO", 0, 1), ("VER", 1, 3)]),
        (["B-VER", "B-VER"], [("VER", 0, 1), ("VER", 1, 2)]),  # B- after B- of the same type: two
        (["I-ORG", "I-ORG", "B-ORG", "I-ORG"], [("ORG", 0, 2), ("ORG", 2, 4)]),
        (["I-ORG", "I-PRO", "O", "I-PRO"], [("ORG", 0, 1), ("PRO", 1, 2), ("PRO", 3, 4)]),
    ],
)
def test_iob_spans_follow_conlleval(tags, spans):
    assert iob_spans(tags) == spans


@pytest.mark.parametrize("bad", ["ORG", "X-ORG", "B-", "b-ORG", ""])
def test_iob_spans_reject_malformed_tags(bad):
    with pytest.raises(ValueError, match="malformed IOB tag"):
        iob_spans(["O", bad])


# ---------------------------------------------------------------------------
# Entity and token scores

# Two sentences scored by hand below.
#   gold 1: B-ORG I-ORG O B-PRO O   -> ORG(0,2) PRO(3,4)
#   pred 1: B-ORG O     O B-PRO O   -> ORG(0,1) (wrong end) PRO(3,4) (correct)
#   gold 2: B-VUL I-VUL O     B-ID  -> VUL(0,2) ID(3,4)
#   pred 2: B-VUL I-VUL B-ORG O     -> VUL(0,2) (correct) ORG(2,3) (spurious); ID missed
HALF_GOLD = [
    ["B-ORG", "I-ORG", "O", "B-PRO", "O"],
    ["B-VUL", "I-VUL", "O", "B-ID"],
]
HALF_PRED = [
    ["B-ORG", "O", "O", "B-PRO", "O"],
    ["B-VUL", "I-VUL", "B-ORG", "O"],
]


def test_entity_scores_perfect_prediction():
    s = entity_scores(HALF_GOLD, HALF_GOLD)
    assert s["level"] == "entity"
    assert s["micro"]["f1"] == s["micro"]["precision"] == s["micro"]["recall"] == 1.0
    assert s["macro"]["f1"] == 1.0
    assert s["macro"]["types"] == ["ORG", "PRO", "VUL", "ID"]  # VER absent everywhere
    for kind in ("ORG", "PRO", "VUL", "ID"):
        assert s["per_type"][kind]["f1"] == 1.0
    assert s["per_type"]["VER"] == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0, "correct": 0, "support": 0, "predicted": 0,
    }
    assert s["misaligned"] == 0 and s["sequences"] == 2


def test_entity_scores_all_o_prediction_is_zero():
    s = entity_scores(HALF_GOLD, [["O"] * len(g) for g in HALF_GOLD])
    assert s["micro"] == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0, "correct": 0, "support": 4, "predicted": 0,
    }
    assert s["macro"]["f1"] == 0.0
    assert s["macro"]["types"] == ["ORG", "PRO", "VUL", "ID"]


def test_entity_scores_half_right_by_hand():
    s = entity_scores(HALF_GOLD, HALF_PRED)
    # ORG: support 1, predicted 2 (wrong-end ORG, spurious ORG), correct 0 -> P 0, R 0, F1 0.
    assert (s["per_type"]["ORG"]["support"], s["per_type"]["ORG"]["predicted"]) == (1, 2)
    assert s["per_type"]["ORG"]["f1"] == 0.0
    # PRO and VUL: 1 of 1 each -> 1.0. ID: support 1, predicted 0 -> 0.
    assert s["per_type"]["PRO"]["f1"] == 1.0
    assert s["per_type"]["VUL"]["f1"] == 1.0
    assert s["per_type"]["ID"]["f1"] == 0.0 and s["per_type"]["ID"]["recall"] == 0.0
    # Micro: correct 2, support 4, predicted 4 -> P = R = F1 = 0.5.
    assert (s["micro"]["correct"], s["micro"]["support"], s["micro"]["predicted"]) == (2, 4, 4)
    assert s["micro"]["f1"] == pytest.approx(0.5)
    # Macro over ORG, PRO, VUL, ID (VER absent): F1 (0 + 1 + 1 + 0) / 4 = 0.5.
    assert s["macro"]["f1"] == pytest.approx(0.5)
    assert s["macro"]["precision"] == pytest.approx(0.5)


def test_token_scores_half_right_by_hand():
    s = token_scores(HALF_GOLD, HALF_PRED)
    assert s["level"] == "token"
    # Word types: gold ORG ORG - PRO - | VUL VUL - ID ; pred ORG - - PRO - | VUL VUL ORG -
    # ORG: support 2, predicted 2, correct 1 -> P = R = F1 = 0.5.
    assert (s["per_type"]["ORG"]["correct"], s["per_type"]["ORG"]["support"]) == (1, 2)
    assert s["per_type"]["ORG"]["f1"] == pytest.approx(0.5)
    assert s["per_type"]["VUL"]["f1"] == 1.0  # 2 of 2 words
    assert s["per_type"]["ID"]["f1"] == 0.0
    # Micro: correct 4, support 6, predicted 5 -> P 0.8, R 2/3, F1 = 2*0.8*(2/3)/(0.8+2/3) = 8/11.
    assert (s["micro"]["correct"], s["micro"]["support"], s["micro"]["predicted"]) == (4, 6, 5)
    assert s["micro"]["precision"] == pytest.approx(0.8)
    assert s["micro"]["recall"] == pytest.approx(2 / 3)
    assert s["micro"]["f1"] == pytest.approx(8 / 11)
    # Macro over ORG, PRO, VUL, ID: (0.5 + 1 + 1 + 0) / 4.
    assert s["macro"]["f1"] == pytest.approx(0.625)


def test_token_level_ignores_b_versus_i():
    # Same words, different chunking: token level perfect, entity level not.
    gold = [["B-VUL", "I-VUL"]]
    pred = [["B-VUL", "B-VUL"]]
    assert token_scores(gold, pred)["micro"]["f1"] == 1.0
    assert entity_scores(gold, pred)["micro"]["f1"] == 0.0


def test_entity_scores_read_stray_i_tags_like_conlleval():
    # I-VER after B-PRO starts a VER chunk, so it matches gold B-VER; I-ORG after O matches B-ORG.
    gold = [["B-PRO", "B-VER", "O", "B-ORG"]]
    pred = [["B-PRO", "I-VER", "O", "I-ORG"]]
    assert entity_scores(gold, pred)["micro"]["f1"] == 1.0


def test_misaligned_predictions_are_padded_or_truncated_and_counted():
    gold = [["B-ORG", "O"], ["O", "B-VER"], ["B-ID"]]
    pred = [
        ["B-ORG", "O", "B-PRO"],  # too long: the extra PRO is cut off, the rest is right
        ["O"],  # too short: padded with O, so the VER is missed
        None,  # no tags: all O, not misaligned
    ]
    for scorer in (entity_scores, token_scores):
        s = scorer(gold, pred)
        assert s["misaligned"] == 2
        assert s["per_type"]["PRO"]["predicted"] == 0
        assert s["per_type"]["ORG"]["f1"] == 1.0
        assert s["per_type"]["VER"]["recall"] == 0.0
        assert s["per_type"]["ID"]["recall"] == 0.0
        assert (s["micro"]["correct"], s["micro"]["support"], s["micro"]["predicted"]) == (1, 3, 1)


def test_empty_prediction_for_empty_gold_is_not_misaligned():
    assert entity_scores([[]], [[]])["misaligned"] == 0


def test_scores_reject_different_sequence_counts():
    with pytest.raises(ValueError, match="2 gold tag sequences but 1"):
        entity_scores([["O"], ["O"]], [["O"]])


def test_types_argument_restricts_scoring():
    s = entity_scores(HALF_GOLD, HALF_PRED, types=("VUL",))
    assert list(s["per_type"]) == ["VUL"]
    assert s["micro"]["f1"] == 1.0 and s["micro"]["support"] == 1


def test_macro_is_zero_when_no_type_is_present():
    s = entity_scores([["O", "O"]], [["O", "O"]])
    assert s["macro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "types": []}
    assert s["micro"]["f1"] == 0.0


# ---------------------------------------------------------------------------
# Independent cross-check: a deliberately plain re-implementation of conlleval's counting,
# token by token with startOfChunk/endOfChunk and the "inside a correct chunk" state, written
# without spans or sets so that it shares no logic with tweetner.metrics.


def _split(tag):
    if tag == "O":
        return "O", ""
    return tag[0], tag[2:]


def _end_of_chunk(prev_tag, tag, prev_type, type_):
    end = False
    if prev_tag == "B" and tag == "B":
        end = True
    if prev_tag == "B" and tag == "O":
        end = True
    if prev_tag == "I" and tag == "B":
        end = True
    if prev_tag == "I" and tag == "O":
        end = True
    if prev_tag != "O" and prev_type != type_:
        end = True
    return end


def _start_of_chunk(prev_tag, tag, prev_type, type_):
    start = False
    if prev_tag == "B" and tag == "B":
        start = True
    if prev_tag == "I" and tag == "B":
        start = True
    if prev_tag == "O" and tag == "B":
        start = True
    if prev_tag == "O" and tag == "I":
        start = True
    if tag != "O" and prev_type != type_:
        start = True
    return start


def _conlleval_counts(gold_seqs, pred_seqs):
    correct, found_gold, found_pred = {}, {}, {}
    in_correct = False
    last_gold, last_gold_type, last_pred, last_pred_type = "O", "", "O", ""
    for gold, pred in zip(gold_seqs, pred_seqs):
        # conlleval sees a sentence boundary as one more token tagged O in both columns.
        for gold_tag, pred_tag in list(zip(gold, pred)) + [("O", "O")]:
            g, g_type = _split(gold_tag)
            p, p_type = _split(pred_tag)
            if in_correct:
                gold_ends = _end_of_chunk(last_gold, g, last_gold_type, g_type)
                pred_ends = _end_of_chunk(last_pred, p, last_pred_type, p_type)
                if gold_ends and pred_ends and last_gold_type == last_pred_type:
                    in_correct = False
                    correct[last_gold_type] = correct.get(last_gold_type, 0) + 1
                elif gold_ends != pred_ends or g_type != p_type:
                    in_correct = False
            gold_starts = _start_of_chunk(last_gold, g, last_gold_type, g_type)
            pred_starts = _start_of_chunk(last_pred, p, last_pred_type, p_type)
            if gold_starts and pred_starts and g_type == p_type:
                in_correct = True
            if gold_starts:
                found_gold[g_type] = found_gold.get(g_type, 0) + 1
            if pred_starts:
                found_pred[p_type] = found_pred.get(p_type, 0) + 1
            last_gold, last_gold_type, last_pred, last_pred_type = g, g_type, p, p_type
    if in_correct:
        correct[last_gold_type] = correct.get(last_gold_type, 0) + 1
    return correct, found_gold, found_pred


def _plain_token_counts(gold_seqs, pred_seqs):
    correct, found_gold, found_pred = {}, {}, {}
    for gold, pred in zip(gold_seqs, pred_seqs):
        for gold_tag, pred_tag in zip(gold, pred):
            g_type = "" if gold_tag == "O" else gold_tag[2:]
            p_type = "" if pred_tag == "O" else pred_tag[2:]
            if g_type:
                found_gold[g_type] = found_gold.get(g_type, 0) + 1
            if p_type:
                found_pred[p_type] = found_pred.get(p_type, 0) + 1
            if p_type and p_type == g_type:
                correct[p_type] = correct.get(p_type, 0) + 1
    return correct, found_gold, found_pred


def _plain_scores(counts):
    correct, found_gold, found_pred = counts

    def prf(c, g, p):
        precision = c / p if p else 0.0
        recall = c / g if g else 0.0
        return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)

    per_type = {t: prf(correct.get(t, 0), found_gold.get(t, 0), found_pred.get(t, 0)) for t in TAG_TYPES}
    micro = prf(sum(correct.values()), sum(found_gold.values()), sum(found_pred.values()))
    present = [t for t in TAG_TYPES if found_gold.get(t) or found_pred.get(t)]
    macro_f1 = sum(per_type[t][2] for t in present) / len(present) if present else 0.0
    return per_type, micro, macro_f1


def _assert_matches(ours, reference):
    per_type, micro, macro_f1 = reference
    for kind in TAG_TYPES:
        got = ours["per_type"][kind]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx(per_type[kind], abs=1e-9)
    assert (ours["micro"]["precision"], ours["micro"]["recall"], ours["micro"]["f1"]) == pytest.approx(
        micro, abs=1e-9
    )
    assert ours["macro"]["f1"] == pytest.approx(macro_f1, abs=1e-9)


def _random_pair(rng):
    # Weighted towards O and towards I- tags so that stray I- starts and type switches are common.
    weights = [6] + [1] * (len(TAGS) - 1)
    gold, pred = [], []
    for _ in range(rng.randint(1, 8)):
        n = rng.randint(0, 12)
        g = rng.choices(TAGS, weights, k=n)
        # Half the time start from gold and perturb it, so that many chunks are correct.
        p = list(g) if rng.random() < 0.5 else rng.choices(TAGS, weights, k=n)
        for i in range(n):
            if rng.random() < 0.2:
                p[i] = rng.choice(TAGS)
        gold.append(g)
        pred.append(p)
    return gold, pred


def test_entity_and_token_scores_match_plain_reimplementation_on_seeded_random_sequences():
    rng = random.Random(20190824)
    for _ in range(400):
        gold, pred = _random_pair(rng)
        _assert_matches(entity_scores(gold, pred), _plain_scores(_conlleval_counts(gold, pred)))
        _assert_matches(token_scores(gold, pred), _plain_scores(_plain_token_counts(gold, pred)))


_tag_lists = st.lists(st.sampled_from(TAGS), max_size=10)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_tag_lists, _tag_lists), max_size=6))
def test_entity_scores_match_conlleval_reimplementation_hypothesis(pairs):
    gold = [g for g, _ in pairs]
    # Cut or pad the prediction here, so the reference sees exactly what metrics.py scores.
    pred = [(p + ["O"] * len(g))[: len(g)] for g, p in pairs]
    _assert_matches(entity_scores(gold, pred), _plain_scores(_conlleval_counts(gold, pred)))
    misaligned = sum(1 for g, p in pairs if len(g) != len(p))
    raw = entity_scores(gold, [p for _, p in pairs])
    assert raw["misaligned"] == misaligned
    _assert_matches(raw, _plain_scores(_conlleval_counts(gold, pred)))


def test_reference_implementation_is_itself_sane():
    # Guard against a cross-check that agrees because both sides are wrong.
    correct, found_gold, found_pred = _conlleval_counts(HALF_GOLD, HALF_PRED)
    assert (correct, found_gold, found_pred) == (
        {"PRO": 1, "VUL": 1},
        {"ORG": 1, "PRO": 1, "VUL": 1, "ID": 1},
        {"ORG": 2, "PRO": 1, "VUL": 1},
    )


# ---------------------------------------------------------------------------
# Competition scores


def _ex(text, relevant, tags, cases, line):
    return Example(text=text, relevant=relevant, tags=None if tags is None else tuple(tags.split()),
                   cases=tuple(cases), line=line)


# Tweets written for these tests. Two are in both case studies (e2, e3), and e6 only in A.
GOLD = [
    _ex("acme ships a patch today", 1, "B-ORG O O O O", "A", 2),
    _ex("my cat likes the sun", 0, None, "AB", 3),
    _ex("overflow in widgetd 2.1", 1, "B-VUL O B-PRO B-VER", "AB", 4),
    _ex("lunch was great", 0, None, "B", 5),
    _ex("update your widgetd", 1, "O O B-PRO", "B", 6),
    _ex("rainy monday again", 0, None, "A", 7),
]
PRED_LABELS = [1, 1, 1, 0, 0, 0]
PRED_TAGS = [
    ["B-ORG", "O", "O", "O", "O"],  # right
    None,  # predicted 1 without tags
    ["B-VUL", "O", "B-PRO", "O"],  # VER missed
    None,
    ["O", "O", "B-PRO"],  # right tags, but the tweet is predicted 0
    None,
]


def test_competition_scores_per_case_averaging_by_hand():
    s = competition_scores(GOLD, PRED_LABELS, PRED_TAGS)
    assert s["case_studies"] == ["A", "B"]  # C is flagged on no tweet
    a, b = s["studies"]["A"], s["studies"]["B"]
    assert (a["n_tweets"], a["n_relevant"], b["n_tweets"], b["n_relevant"]) == (4, 2, 4, 2)
    # A = tweets 1, 2, 3, 6: gold 1 0 1 0, pred 1 1 1 0 -> TPR 1, TNR 1/2, F1 = 2*0.5/1.5 = 2/3.
    assert a["relevance"]["f1"] == pytest.approx(2 / 3)
    # B = tweets 2, 3, 4, 5: gold 0 1 0 1, pred 1 1 0 0 -> TPR 1/2, TNR 1/2, F1 1/2.
    assert b["relevance"]["f1"] == pytest.approx(0.5)
    # Headline A (tweets 1, 3): gold ORG VUL PRO VER, predicted ORG VUL PRO all right
    # -> P 1, R 3/4, F1 6/7. Headline B (tweets 3, 5): gold VUL PRO VER PRO, predicted VUL PRO PRO -> 6/7.
    assert a["ner"]["headline"]["entity"]["micro"]["f1"] == pytest.approx(6 / 7)
    assert b["ner"]["headline"]["entity"]["micro"]["f1"] == pytest.approx(6 / 7)
    # Pipeline B: tweet 5 predicted 0 becomes all O -> correct 2, support 4, predicted 2 -> F1 2/3.
    assert a["ner"]["pipeline"]["entity"]["micro"]["f1"] == pytest.approx(6 / 7)
    assert b["ner"]["pipeline"]["entity"]["micro"]["f1"] == pytest.approx(2 / 3)

    avg = s["average"]
    assert avg["relevance"]["f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # 7/12
    assert avg["relevance"]["tpr"] == pytest.approx((1 + 1 / 2) / 2)
    assert avg["ner"]["headline"]["entity"]["micro"]["f1"] == pytest.approx(6 / 7)
    assert avg["ner"]["pipeline"]["entity"]["micro"]["f1"] == pytest.approx((6 / 7 + 2 / 3) / 2)
    assert avg["ner"]["headline"]["entity"]["micro"]["recall"] == pytest.approx(3 / 4)
    # Macro headline: A over ORG VUL PRO VER = (1+1+1+0)/4; B over VUL PRO VER = (1+1+0)/3.
    assert avg["ner"]["headline"]["entity"]["macro"]["f1"] == pytest.approx((3 / 4 + 2 / 3) / 2)
    # Per type is a plain mean over studies: ORG is 1 in A and absent (0) in B.
    assert avg["ner"]["headline"]["entity"]["per_type"]["ORG"]["f1"] == pytest.approx(0.5)
    assert avg["ner"]["headline"]["entity"]["per_type"]["VER"]["f1"] == 0.0
    # Token level equals entity level here (every chunk is one word).
    assert avg["ner"]["headline"]["token"]["micro"]["f1"] == pytest.approx(6 / 7)

    tie = s["tie_break"]
    assert tie["relevance_f1"] == pytest.approx(7 / 12)
    assert tie["entity_f1"] == pytest.approx(6 / 7)
    assert tie["distance"] == pytest.approx(math.sqrt((5 / 12) ** 2 + (1 / 7) ** 2))
    assert s["misaligned"] == 0 and s["n_tweets"] == 6


def test_competition_perfect_prediction_scores_one():
    labels = [ex.relevant for ex in GOLD]
    tags = [ex.tags for ex in GOLD]
    s = competition_scores(GOLD, labels, tags)
    avg = s["average"]
    assert avg["relevance"]["f1"] == 1.0
    for reading in ("headline", "pipeline"):
        for level in ("entity", "token"):
            assert avg["ner"][reading][level]["micro"]["f1"] == 1.0
            assert avg["ner"][reading][level]["macro"]["f1"] == 1.0
    assert s["tie_break"]["distance"] == 0.0


def test_competition_all_o_prediction_still_scores_relevance():
    labels = [ex.relevant for ex in GOLD]
    s = competition_scores(GOLD, labels, [None] * len(GOLD))
    assert s["average"]["relevance"]["f1"] == 1.0
    assert s["average"]["ner"]["headline"]["entity"]["micro"]["f1"] == 0.0
    assert s["average"]["ner"]["headline"]["token"]["micro"]["f1"] == 0.0
    assert s["tie_break"]["distance"] == pytest.approx(1.0)


def test_competition_all_one_all_o():
    s = competition_scores(GOLD, [1] * len(GOLD), [["O"] * len(ex.tokens) for ex in GOLD])
    rel = s["average"]["relevance"]
    assert (rel["tpr"], rel["tnr"], rel["f1"]) == (1.0, 0.0, 0.0)
    assert s["average"]["ner"]["pipeline"]["entity"]["micro"]["f1"] == 0.0
    assert s["tie_break"]["distance"] == pytest.approx(math.sqrt(2))


def test_competition_without_case_flags_uses_one_study_named_all():
    gold = [_ex(ex.text, ex.relevant, None if ex.tags is None else " ".join(ex.tags), "", ex.line) for ex in GOLD]
    s = competition_scores(gold, PRED_LABELS, PRED_TAGS)
    assert s["case_studies"] == ["all"]
    # All six tweets: gold 1 0 1 0 1 0, pred 1 1 1 0 0 0 -> TPR 2/3, TNR 2/3, F1 2/3.
    assert s["studies"]["all"]["relevance"]["f1"] == pytest.approx(2 / 3)
    assert s["average"]["relevance"]["f1"] == pytest.approx(2 / 3)


def test_competition_explicit_cases():
    s = competition_scores(GOLD, PRED_LABELS, PRED_TAGS, cases=["B"])
    assert s["case_studies"] == ["B"]
    assert s["average"]["relevance"]["f1"] == pytest.approx(0.5)
    assert competition_scores(GOLD, PRED_LABELS, PRED_TAGS, cases=["all"])["studies"]["all"]["n_tweets"] == 6
    with pytest.raises(ValueError, match="'C' has no tweets"):
        competition_scores(GOLD, PRED_LABELS, PRED_TAGS, cases=["C"])


def test_competition_counts_misaligned_tweets_relevant_or_not():
    tags = list(PRED_TAGS)
    tags[0] = ["B-ORG"]  # relevant tweet, too short
    tags[1] = ["O", "O"]  # irrelevant tweet, too short: counted, though not scored for NER
    s = competition_scores(GOLD, PRED_LABELS, tags)
    assert s["misaligned"] == 2
    assert s["studies"]["A"]["ner"]["headline"]["entity"]["misaligned"] == 1
    # The shortened ORG prediction still lands on the right word after padding.
    assert s["studies"]["A"]["ner"]["headline"]["entity"]["per_type"]["ORG"]["f1"] == 1.0


def test_competition_rejects_inputs_of_different_lengths():
    with pytest.raises(ValueError, match="must match"):
        competition_scores(GOLD, PRED_LABELS[:-1], PRED_TAGS)


def test_format_table_shows_every_block_and_the_averages():
    s = competition_scores(GOLD, PRED_LABELS, PRED_TAGS)
    text = format_table(s)
    for title in (
        "Relevance",
        "Entity-level NER F1 (conlleval chunks), headline",
        "Entity-level NER F1 (conlleval chunks), pipeline",
        "Token-level NER F1 (words, B/I ignored), headline",
        "Token-level NER F1 (words, B/I ignored), pipeline",
        "Tie-break distance",
    ):
        assert text.count(title) == 1, title
    lines = text.splitlines()
    relevance_rows = lines[lines.index(next(line for line in lines if line.startswith("Relevance"))) + 2:][:3]
    assert relevance_rows[0].split() == ["A", "4", "2", "1.0000", "0.5000", "0.6667"]
    assert relevance_rows[2].split() == ["average", "0.7500", "0.5000", "0.5833"]
    pipeline = lines.index(
        next(line for line in lines if line.startswith("Entity-level NER F1 (conlleval chunks), pipeline"))
    )
    assert lines[pipeline + 1].split() == ["micro", "macro", *TAG_TYPES]
    # B pipeline: micro 2/3; ORG and ID absent from study B are shown as "-", not as a score of 0.
    macro_b = f"{(2 / 3 + 0 + 1) / 3:.4f}"  # PRO 2/3, VER 0, VUL 1
    assert lines[pipeline + 3].split() == ["B", "0.6667", macro_b, "-", "0.6667", "0.0000", "1.0000", "-"]
    assert lines[pipeline + 4].split()[:2] == ["average", f"{(6 / 7 + 2 / 3) / 2:.4f}"]
    assert "Misaligned" not in text
    assert "Misaligned: 1 " in format_table(competition_scores(GOLD, PRED_LABELS, [["O"]] + PRED_TAGS[1:]))
