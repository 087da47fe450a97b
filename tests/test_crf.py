"""Tests of the CRF against brute force: every tag path is enumerated with itertools.product for tiny sizes."""
from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tweetner.crf import (
    CRF,
    FORBIDDEN_SCORE,
    constraint_mask,
    crf_decode,
    crf_log_likelihood,
    crf_log_norm,
    crf_sequence_score,
    iob_allowed_starts,
    iob_allowed_transitions,
)

TAGS_11 = ("O", "B-ORG", "I-ORG", "B-PRO", "I-PRO", "B-VER", "I-VER", "B-VUL", "I-VUL", "B-ID", "I-ID")
TAGS_5 = ("O", "B-ORG", "I-ORG", "B-PRO", "I-PRO")
# Written out by hand for TAGS_5 (not derived with the code under test): the pairs where I-X follows a foreign tag.
FORBIDDEN_5 = {(0, 2), (3, 2), (4, 2), (0, 4), (1, 4), (2, 4)}


# --------------------------------------------------------------------------------------------------------------------
# Brute-force reference, written independently of tweetner.crf.
# --------------------------------------------------------------------------------------------------------------------


def path_score(emissions, path, transitions, start, end):
    """Score of one path over emissions[:len(path)], by the formula in the module docstring (from -> to)."""
    if not path:
        return 0.0
    score = start[path[0]] + end[path[-1]]
    for t, tag in enumerate(path):
        score += emissions[t, tag]
        if t > 0:
            score += transitions[path[t - 1], tag]
    return score


def all_paths(length, num_tags):
    return list(itertools.product(range(num_tags), repeat=length))


def brute_log_norm(emissions, length, transitions, start, end):
    scores = [path_score(emissions, p, transitions, start, end) for p in all_paths(length, emissions.shape[1])]
    top = max(scores)
    return top + np.log(np.sum(np.exp(np.array(scores) - top)))


def brute_best(emissions, length, transitions, start, end, allowed=None):
    """Best (path, score); `allowed(path)` restricts the candidates."""
    candidates = [p for p in all_paths(length, emissions.shape[1]) if allowed is None or allowed(p)]
    scores = [path_score(emissions, p, transitions, start, end) for p in candidates]
    best = int(np.argmax(scores))
    return candidates[best], scores[best]


def brute_marginals(emissions, length, transitions, start, end):
    """p(y_t = k) for t < length, `[length, N]`."""
    num_tags = emissions.shape[1]
    log_z = brute_log_norm(emissions, length, transitions, start, end)
    marginals = np.zeros((length, num_tags))
    for path in all_paths(length, num_tags):
        probability = np.exp(path_score(emissions, path, transitions, start, end) - log_z)
        for t, tag in enumerate(path):
            marginals[t, tag] += probability
    return marginals


def random_crf(rng, num_tags):
    return rng.normal(size=(num_tags, num_tags)), rng.normal(size=num_tags), rng.normal(size=num_tags)


def padded_batch(rng, lengths, max_len, num_tags, garbage=50.0):
    """Emissions `[B, max_len, N]` and tags `[B, max_len]` with large random garbage in the padding."""
    emissions = rng.normal(size=(len(lengths), max_len, num_tags))
    tags = rng.integers(0, num_tags, size=(len(lengths), max_len))
    for b, length in enumerate(lengths):
        emissions[b, length:] = rng.normal(scale=garbage, size=emissions[b, length:].shape)
        tags[b, length:] = rng.integers(-5, 50, size=max_len - length)  # out of range on purpose
    return emissions, tags


# --------------------------------------------------------------------------------------------------------------------
# Scores, normaliser, likelihood.
# --------------------------------------------------------------------------------------------------------------------


def test_sequence_score_by_hand_reads_transitions_from_row_to_column():
    emissions = np.array([[[1.0, 0.0], [0.0, 2.0], [0.5, 0.0]]])
    transitions = np.array([[0.0, 10.0], [-3.0, 0.0]])  # 0 -> 1 scores 10, 1 -> 0 scores -3
    start = np.array([0.25, 0.0])
    end = np.array([0.0, 4.0])
    # Path 0, 1, 0 over all three tokens: start 0.25 + emissions 1 + 2 + 0.5 + transitions 10 - 3 + end 0.
    score = crf_sequence_score(emissions, [[0, 1, 0]], [3], transitions, start, end)
    np.testing.assert_allclose(score.numpy(), [10.75])
    # Only the first two tokens: start 0.25 + 1 + 2 + transition 10 + end[1] 4; token 3 and its tag are ignored.
    score = crf_sequence_score(emissions, [[0, 1, 7]], [2], transitions, start, end)
    np.testing.assert_allclose(score.numpy(), [17.25])


@pytest.mark.parametrize("num_tags,max_len,seed", [(3, 4, 0), (4, 3, 1), (3, 1, 2), (4, 4, 3)])
def test_log_norm_equals_logsumexp_over_all_paths(num_tags, max_len, seed):
    rng = np.random.default_rng(seed)
    transitions, start, end = random_crf(rng, num_tags)
    lengths = [max_len, max(max_len - 1, 0), 1, 0]
    emissions, _ = padded_batch(rng, lengths, max_len, num_tags)
    log_norm = crf_log_norm(emissions, lengths, transitions, start, end).numpy()
    expected = [brute_log_norm(emissions[b], n, transitions, start, end) if n else 0.0 for b, n in enumerate(lengths)]
    np.testing.assert_allclose(log_norm, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("num_tags,length,seed", [(3, 4, 4), (4, 3, 5), (4, 1, 6)])
def test_probabilities_of_all_paths_sum_to_one(num_tags, length, seed):
    rng = np.random.default_rng(seed)
    transitions, start, end = random_crf(rng, num_tags)
    max_len = length + 2  # padding after the real tokens, with garbage tags in it
    paths = all_paths(length, num_tags)
    emissions = np.repeat(rng.normal(size=(1, max_len, num_tags)), len(paths), axis=0)
    tags = rng.integers(-3, 9, size=(len(paths), max_len))
    tags[:, :length] = paths
    log_likelihood = crf_log_likelihood(emissions, tags, [length] * len(paths), transitions, start, end).numpy()
    assert np.all(log_likelihood < 0)
    np.testing.assert_allclose(np.exp(log_likelihood).sum(), 1.0, rtol=1e-10)
    # Each path's likelihood is its own brute-force probability, not just some distribution.
    log_z = brute_log_norm(emissions[0], length, transitions, start, end)
    expected = [path_score(emissions[0], p, transitions, start, end) - log_z for p in paths]
    np.testing.assert_allclose(log_likelihood, expected, rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------------------------------------------------
# Viterbi.
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_tags,max_len,seed", [(3, 4, 7), (4, 4, 8), (4, 2, 9), (3, 3, 10)])
def test_viterbi_equals_brute_force_argmax(num_tags, max_len, seed):
    rng = np.random.default_rng(seed)
    transitions, start, end = random_crf(rng, num_tags)
    lengths = [max_len, 1, max(max_len - 1, 1), 0]
    emissions, _ = padded_batch(rng, lengths, max_len, num_tags)
    tags, scores = crf_decode(emissions, lengths, transitions, start, end)
    assert tags.dtype == tf.int32 and tags.shape == (4, max_len) and scores.shape == (4,)
    for b, length in enumerate(lengths):
        if length == 0:
            assert scores[b] == 0.0
            assert tags[b].numpy().tolist() == [0] * max_len
            continue
        path, score = brute_best(emissions[b], length, transitions, start, end)
        assert tuple(tags[b, :length].numpy()) == path
        assert tags[b, length:].numpy().tolist() == [0] * (max_len - length)
        np.testing.assert_allclose(scores[b].numpy(), score, rtol=1e-12)


def test_padded_batch_equals_one_by_one():
    rng = np.random.default_rng(11)
    num_tags, max_len = 4, 5
    transitions, start, end = random_crf(rng, num_tags)
    lengths = [5, 3, 1, 0, 4]
    emissions, tags = padded_batch(rng, lengths, max_len, num_tags)
    batch_tags, batch_scores = crf_decode(emissions, lengths, transitions, start, end)
    batch_ll = crf_log_likelihood(emissions, tags, lengths, transitions, start, end)
    for b, length in enumerate(lengths):
        single = emissions[b : b + 1, :length]  # no padding at all
        one_tags, one_scores = crf_decode(single, [length], transitions, start, end)
        one_ll = crf_log_likelihood(single, tags[b : b + 1, :length], [length], transitions, start, end)
        assert batch_tags[b, :length].numpy().tolist() == one_tags[0].numpy().tolist()
        np.testing.assert_allclose(batch_scores[b].numpy(), one_scores[0].numpy(), rtol=1e-12)
        np.testing.assert_allclose(batch_ll[b].numpy(), one_ll[0].numpy(), rtol=1e-12, atol=1e-12)


def test_length_one_and_length_zero():
    rng = np.random.default_rng(12)
    transitions, start, end = random_crf(rng, 3)
    emissions = rng.normal(size=(2, 1, 3))
    tags, scores = crf_decode(emissions, [1, 0], transitions, start, end)
    # One token: the best tag maximises start + emission + end; transitions play no part.
    only = start + emissions[0, 0] + end
    assert tags.numpy().tolist() == [[int(np.argmax(only))], [0]]
    np.testing.assert_allclose(scores.numpy(), [only.max(), 0.0])
    log_norm = crf_log_norm(emissions, [1, 0], transitions, start, end).numpy()
    np.testing.assert_allclose(log_norm, [np.log(np.exp(only).sum()), 0.0])
    log_likelihood = crf_log_likelihood(emissions, [[2], [1]], [1, 0], transitions, start, end).numpy()
    np.testing.assert_allclose(log_likelihood, [only[2] - log_norm[0], 0.0])


def test_empty_time_axis_and_empty_batch():
    rng = np.random.default_rng(13)
    transitions, start, end = random_crf(rng, 4)
    no_tokens = np.zeros((3, 0, 4))
    tags, scores = crf_decode(no_tokens, [0, 0, 0], transitions, start, end)
    assert tags.shape == (3, 0) and tags.dtype == tf.int32
    assert scores.numpy().tolist() == [0.0, 0.0, 0.0]
    assert crf_log_norm(no_tokens, [0, 0, 0], transitions, start, end).numpy().tolist() == [0.0] * 3
    empty_tags = np.zeros((3, 0), dtype=np.int32)
    assert crf_log_likelihood(no_tokens, empty_tags, [0, 0, 0], transitions, start, end).numpy().tolist() == [0.0] * 3

    no_tweets = np.zeros((0, 5, 4))
    tags, scores = crf_decode(no_tweets, np.zeros(0, np.int32), transitions, start, end)
    assert tags.shape == (0, 5) and scores.shape == (0,)
    assert crf_log_norm(no_tweets, np.zeros(0, np.int32), transitions, start, end).shape == (0,)


# --------------------------------------------------------------------------------------------------------------------
# IOB constraints.
# --------------------------------------------------------------------------------------------------------------------


def test_allowed_set_for_the_eleven_tag_scheme():
    allowed = iob_allowed_transitions(TAGS_11)
    # 121 pairs; each of the 5 I-X tags may only follow its own B-X and I-X, so 5 * 9 = 45 pairs are forbidden.
    assert len(allowed) == 76
    predecessors = {2: {1, 2}, 4: {3, 4}, 6: {5, 6}, 8: {7, 8}, 10: {9, 10}}  # I-X index -> B-X, I-X indices
    expected = {(i, j) for i in range(11) for j in range(11) if j not in predecessors or i in predecessors[j]}
    assert allowed == expected
    for pair in [(0, 0), (0, 1), (1, 2), (2, 2), (2, 0), (2, 3), (4, 1), (9, 10), (10, 10), (10, 9), (6, 5)]:
        assert pair in allowed, pair
    for pair in [(0, 2), (1, 4), (2, 4), (3, 2), (10, 2), (0, 10), (5, 8), (8, 6), (9, 8)]:
        assert pair not in allowed, pair
    assert iob_allowed_starts(TAGS_11) == {0, 1, 3, 5, 7, 9}


def test_constraint_mask_values():
    trans_mask, start_mask = constraint_mask(TAGS_11)
    assert trans_mask.shape == (11, 11) and start_mask.shape == (11,)
    assert trans_mask[0, 2] == FORBIDDEN_SCORE == -1e4
    assert trans_mask[1, 2] == 0.0 and trans_mask[2, 0] == 0.0 and trans_mask[3, 4] == 0.0
    assert (trans_mask == FORBIDDEN_SCORE).sum() == 45 and (trans_mask == 0).sum() == 76
    assert start_mask.tolist() == [0.0, 0.0, -1e4, 0.0, -1e4, 0.0, -1e4, 0.0, -1e4, 0.0, -1e4]


@pytest.mark.parametrize("tags", [(), ("O", "X-ORG"), ("O", "B-"), ("O", "B-ORG", "O"), ("O", "BORG"), ("O", 3)])
def test_malformed_tag_lists_are_rejected(tags):
    with pytest.raises(ValueError, match="tag"):
        iob_allowed_transitions(tags)
    with pytest.raises(ValueError, match="tag"):
        CRF(tags)


def _is_allowed_5(path):
    return path[0] not in (2, 4) and all((a, b) not in FORBIDDEN_5 for a, b in zip(path, path[1:]))


@pytest.mark.parametrize("seed", [14, 15, 16])
def test_constrained_decode_equals_brute_force_over_allowed_paths(seed):
    rng = np.random.default_rng(seed)
    num_tags, max_len = len(TAGS_5), 4
    transitions, start, end = random_crf(rng, num_tags)
    # Push hard towards forbidden moves so the constraints have something to correct.
    transitions[0, 2] += 4.0
    transitions[3, 2] += 4.0
    start[4] += 4.0
    lengths = [4, 3, 1, 0, 2, 4]
    emissions, _ = padded_batch(rng, lengths, max_len, num_tags)
    emissions[:, :, [2, 4]] += 1.5
    trans_mask, start_mask = constraint_mask(TAGS_5)
    unconstrained, _ = crf_decode(emissions, lengths, transitions, start, end)
    tags, scores = crf_decode(emissions, lengths, transitions + trans_mask, start + start_mask, end)
    broke_a_rule = False
    for b, length in enumerate(lengths):
        if length == 0:
            continue
        path = tuple(tags[b, :length].numpy())
        assert _is_allowed_5(path), path
        best, best_score = brute_best(emissions[b], length, transitions, start, end, allowed=_is_allowed_5)
        assert path == best
        np.testing.assert_allclose(scores[b].numpy(), best_score, rtol=1e-12)
        broke_a_rule |= not _is_allowed_5(tuple(unconstrained[b, :length].numpy()))
    assert broke_a_rule, "the emissions were meant to make the unconstrained decode break a rule"


# --------------------------------------------------------------------------------------------------------------------
# Gradients.
# --------------------------------------------------------------------------------------------------------------------


def test_gradients_reach_every_parameter_and_match_marginals():
    rng = np.random.default_rng(17)
    num_tags, max_len = 3, 4
    lengths = [4, 2, 0]
    emissions_np, tags_np = padded_batch(rng, lengths, max_len, num_tags, garbage=3.0)
    initial = random_crf(rng, num_tags)
    transitions, start, end = (tf.Variable(x) for x in initial)
    emissions = tf.Variable(emissions_np)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(crf_log_likelihood(emissions, tags_np, lengths, transitions, start, end))
    grads = tape.gradient(total, [transitions, start, end, emissions])
    for name, grad in zip(["transitions", "start", "end", "emissions"], grads):
        assert grad is not None, name
        assert np.all(np.isfinite(grad.numpy())), name
        assert np.abs(grad.numpy()).sum() > 1e-3, name
    # d log p(y) / d emissions[t, k] = [y_t == k] - p(y_t = k) on real tokens, exactly 0 in the padding.
    emission_grad = grads[3].numpy()
    for b, length in enumerate(lengths):
        if length:
            observed = np.eye(num_tags)[tags_np[b, :length]]
            marginals = brute_marginals(emissions_np[b], length, *initial)
            np.testing.assert_allclose(emission_grad[b, :length], observed - marginals, atol=1e-10)
        assert np.all(emission_grad[b, length:] == 0.0)
    # The start gradient is the same identity on the first tokens of the non-empty rows.
    expected_start = sum(
        np.eye(num_tags)[tags_np[b, 0]] - brute_marginals(emissions_np[b], n, *initial)[0]
        for b, n in enumerate(lengths)
        if n
    )
    np.testing.assert_allclose(grads[1].numpy(), expected_start, atol=1e-10)


def test_layer_log_likelihood_trains_every_weight_without_constraints():
    layer = CRF(TAGS_5)
    emissions = tf.constant(np.random.default_rng(18).normal(size=(2, 3, 5)), tf.float32)
    # Row 0 starts with I-ORG after nothing and then I-PRO after I-ORG: invalid IOB, yet it must get a finite score.
    gold = tf.constant([[2, 4, 0], [1, 2, 0]])
    with tf.GradientTape() as tape:
        log_likelihood = layer.log_likelihood(emissions, gold, tf.constant([3, 2]))
    assert layer.built and log_likelihood.shape == (2,)
    assert np.all(log_likelihood.numpy() > -100.0)  # a decode mask (-1e4) would have pushed row 0 far below
    grads = tape.gradient(log_likelihood, layer.trainable_variables)
    assert len(grads) == 3
    assert all(g is not None and np.abs(np.asarray(g)).sum() > 0 for g in grads)


# --------------------------------------------------------------------------------------------------------------------
# Layer, graph mode, SavedModel, serialisation.
# --------------------------------------------------------------------------------------------------------------------


def _randomise(layer, seed):
    rng = np.random.default_rng(seed)
    for variable in layer.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))


def test_layer_decode_applies_constraints_only_when_asked():
    rng = np.random.default_rng(19)
    emissions = rng.normal(size=(4, 4, 5)).astype("float32")
    emissions[:, :, 2] += 3.0  # I-ORG everywhere would be the unconstrained choice
    lengths = np.array([4, 3, 2, 1], np.int32)
    constrained, free = CRF(TAGS_5), CRF(TAGS_5, constrain_decoding=False)
    constrained(emissions, lengths)
    free(emissions, lengths)
    _randomise(constrained, 20)
    free.set_weights(constrained.get_weights())
    raw = [np.asarray(w) for w in constrained.weights]
    expected_free, _ = crf_decode(emissions, lengths, raw[0], raw[1], raw[2])
    assert np.array_equal(free(emissions, lengths).numpy(), expected_free.numpy())
    tags = constrained(emissions, lengths).numpy()
    for b, length in enumerate(lengths):
        assert _is_allowed_5(tuple(tags[b, :length]))
    assert not all(_is_allowed_5(tuple(expected_free[b, :n].numpy())) for b, n in enumerate(lengths))


def test_layer_rejects_emissions_of_the_wrong_width():
    with pytest.raises(ValueError, match="5 tags.*last dimension 4"):
        CRF(TAGS_5)(np.zeros((1, 2, 4), "float32"), np.array([2]))


def _decode_module(layer):
    module = tf.Module()
    module.crf = layer
    module.decode = tf.function(
        lambda emissions, lengths: module.crf(emissions, lengths),
        input_signature=[
            tf.TensorSpec([None, None, layer.num_tags], tf.float32),
            tf.TensorSpec([None], tf.int32),
        ],
        jit_compile=False,
    )
    return module


def test_decode_in_tf_function_and_after_saved_model_round_trip(tmp_path):
    layer = CRF(TAGS_11)
    rng = np.random.default_rng(21)
    layer(np.zeros((1, 1, 11), "float32"), np.array([1], np.int32))
    _randomise(layer, 22)
    emissions = rng.normal(size=(3, 6, 11)).astype("float32")
    lengths = np.array([6, 2, 0], np.int32)
    eager = layer(emissions, lengths).numpy()

    module = _decode_module(layer)
    # One trace with unknown batch and time sizes serves every shape, including T == 1, T == 0 and B == 0, where
    # the recursions have no step to scan over.
    one_token = emissions[:, :1]
    ones = np.array([1, 1, 0], np.int32)
    cases = [
        (emissions, lengths),
        (emissions[1:2, :2], lengths[1:2]),
        (one_token, ones),
        (np.zeros((2, 0, 11), "float32"), np.zeros(2, np.int32)),
        (np.zeros((0, 3, 11), "float32"), np.zeros(0, np.int32)),
    ]
    expected = [layer(e, n).numpy() for e, n in cases]
    assert np.array_equal(expected[0], eager) and np.array_equal(expected[1], eager[1:2, :2])
    assert [x.shape for x in expected[2:]] == [(3, 1), (2, 0), (0, 3)]
    # A single token is scored by start + emission + end only, with I-X starts forbidden.
    single = np.asarray(layer.start_transitions) + constraint_mask(TAGS_11)[1] + np.asarray(layer.end_transitions)
    best_single = [int(np.argmax(single + one_token[b, 0])) for b in (0, 1)]
    assert expected[2][:, 0].tolist() == best_single + [0]
    for (e, n), want in zip(cases, expected):
        assert np.array_equal(module.decode(e, n).numpy(), want)
    tf.saved_model.save(module, str(tmp_path / "crf"))
    loaded = tf.saved_model.load(str(tmp_path / "crf"))
    for (e, n), want in zip(cases, expected):
        assert np.array_equal(loaded.decode(e, n).numpy(), want)


def test_get_config_round_trip_and_keras_safe_mode_save(tmp_path):
    layer = CRF(TAGS_5, constrain_decoding=False, name="tagger_crf")
    config = layer.get_config()
    assert config["tags"] == list(TAGS_5) and config["constrain_decoding"] is False
    clone = CRF.from_config(config)
    assert clone.tags == TAGS_5 and clone.constrain_decoding is False and clone.name == "tagger_crf"

    emissions_in = keras.Input(shape=(None, 5), name="emissions")
    lengths_in = keras.Input(shape=(), dtype="int32", name="lengths")
    model = keras.Model([emissions_in, lengths_in], CRF(TAGS_5, name="crf")(emissions_in, lengths_in))
    _randomise(model.get_layer("crf"), 23)
    emissions = np.random.default_rng(24).normal(size=(2, 4, 5)).astype("float32")
    lengths = np.array([4, 3], np.int32)
    before = model.predict([emissions, lengths], verbose=0)
    path = tmp_path / "crf.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    restored = reloaded.get_layer("crf")
    assert isinstance(restored, CRF) and restored.tags == TAGS_5 and restored.constrain_decoding is True
    for a, b in zip(model.get_layer("crf").weights, restored.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.array_equal(reloaded.predict([emissions, lengths], verbose=0), before)
