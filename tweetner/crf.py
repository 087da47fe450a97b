"""Linear-chain conditional random field (CRF) written in TensorFlow ops.

The model is the tagging CRF of Lample et al. (2016), "Neural Architectures for Named Entity Recognition", as
implemented by the TensorFlow Addons `crf` module, with allennlp-style learnt start and end transitions. For a tag
path y_1..y_L over the first L = length tokens of a tweet the score is

    start[y_1] + sum_t emissions[t, y_t] + sum_{t>1} transitions[y_{t-1}, y_t] + end[y_L]

and the model's probability of the path is exp(score) / sum over all paths of exp(score).

Everything here is built from TensorFlow ops (`tf.scan` over time, no NumPy and no Python loop over time on the
decode path), so it runs eagerly, inside `tf.function(jit_compile=False)` with unknown batch and time dimensions,
and inside an exported SavedModel. Only the IOB constraint helpers, which are computed once from the tag names,
use Python sets and NumPy.

Shapes use B = batch size, T = padded number of tokens, N = number of tags. Positions at or past a tweet's length
are padding: they never contribute to a score, whatever the emissions or tags hold there.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

# Added to the score of a forbidden transition or start at decode time. Large enough that no path using one can win
# against an allowed path for emissions of any sensible size, small enough to stay finite in float16 and to keep
# logsumexp well behaved (-inf would give NaN gradients if it ever reached training).
FORBIDDEN_SCORE = -1e4


# --------------------------------------------------------------------------------------------------------------------
# Input preparation shared by every function below.
# --------------------------------------------------------------------------------------------------------------------


def _prepare(emissions, lengths, transitions, start, end):
    """Converts inputs to tensors of one dtype and masks the padding out of the emissions.

    Args:
        emissions: Float `[B, T, N]`.
        lengths: Int `[B]`; clipped to `[0, T]` so that a length longer than the padded tensor cannot index past it.
        transitions: `[N, N]`; cast to the emissions' dtype.
        start: `[N]`; cast likewise.
        end: `[N]`; cast likewise.

    Returns:
        `(emissions, lengths, mask, transitions, start, end)` where `emissions` is `[B, T, N]` with zeros at padded
        positions (so garbage there, even inf, cannot leak into a score or a gradient), `lengths` is int32 `[B]` and
        `mask` is bool `[B, T]`, true at real tokens.
    """
    emissions = tf.convert_to_tensor(emissions)
    if not emissions.dtype.is_floating:
        emissions = tf.cast(emissions, tf.float32)
    dtype = emissions.dtype
    num_steps = tf.shape(emissions)[1]
    lengths = tf.clip_by_value(tf.cast(lengths, tf.int32), 0, num_steps)
    mask = tf.sequence_mask(lengths, num_steps)
    emissions = tf.where(mask[:, :, None], emissions, tf.zeros([], dtype))
    transitions = tf.cast(transitions, dtype)
    start = tf.cast(start, dtype)
    end = tf.cast(end, dtype)
    return emissions, lengths, mask, transitions, start, end


def _with_two_steps(emissions, mask):
    """Pads the time axis with all-padding steps up to at least two, so every `tf.scan` below has elements.

    The recursions scan over steps 1..T-1. With T < 2 that scan is empty, and in a graph with an unknown batch size
    TensorFlow cannot stack an empty list of `[?, N]` elements (it fails at run time). The appended steps are masked
    out, so they change no score; this also covers T == 0, a batch whose longest tweet has no tokens.

    Args:
        emissions: `[B, T, N]`.
        mask: Bool `[B, T]`.

    Returns:
        `(emissions [B, max(T, 2), N], mask [B, max(T, 2)])`.
    """
    extra = tf.maximum(2 - tf.shape(emissions)[1], 0)
    emissions = tf.pad(emissions, [[0, 0], [0, extra], [0, 0]])
    mask = tf.pad(mask, [[0, 0], [0, extra]], constant_values=False)
    return emissions, mask


# --------------------------------------------------------------------------------------------------------------------
# Scores of given tag paths.
# --------------------------------------------------------------------------------------------------------------------


def crf_unary_score(emissions, tags, lengths):
    """Sums the emission score of each given tag over the real tokens.

    Args:
        emissions: Float `[B, T, N]`, emissions[b, t, k] = score of tag k at token t.
        tags: Int `[B, T]`; entries past the length are ignored (any value).
        lengths: Int `[B]`.

    Returns:
        `[B]`: sum over t < lengths[b] of emissions[b, t, tags[b, t]].
    """
    emissions = tf.convert_to_tensor(emissions)
    mask = tf.sequence_mask(tf.cast(lengths, tf.int32), tf.shape(emissions)[1])
    # Padded tags may hold anything (-1, N, ...); replace them by 0 so the gather stays in range.
    tags = tf.where(mask, tf.cast(tags, tf.int32), 0)
    picked = tf.gather(emissions, tags, batch_dims=2)  # [B, T]
    return tf.reduce_sum(tf.where(mask, picked, tf.zeros([], picked.dtype)), axis=1)


def crf_binary_score(tags, lengths, transitions):
    """Sums the transition scores between consecutive real tokens.

    Args:
        tags: Int `[B, T]`; entries past the length are ignored.
        lengths: Int `[B]`.
        transitions: `[N, N]` transition scores, indexed `[from, to]`.

    Returns:
        `[B]`: sum over 1 <= t < lengths[b] of transitions[tags[b, t-1], tags[b, t]].
    """
    transitions = tf.convert_to_tensor(transitions)
    tags = tf.cast(tags, tf.int32)
    mask = tf.sequence_mask(tf.cast(lengths, tf.int32), tf.shape(tags)[1])
    tags = tf.where(mask, tags, 0)
    # Pair (t-1, t) is real only when token t is real; for T < 2 these slices are empty and the sum is 0.
    pairs = tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1)  # [B, T-1, 2]
    picked = tf.gather_nd(transitions, pairs)  # [B, T-1]
    return tf.reduce_sum(tf.where(mask[:, 1:], picked, tf.zeros([], picked.dtype)), axis=1)


def crf_boundary_score(tags, lengths, start, end):
    """Scores the first and last real tag of each sequence.

    Args:
        tags: Int `[B, T]`; entries past the length are ignored.
        lengths: Int `[B]`.
        start: `[N]`, score of a path beginning with each tag.
        end: `[N]`, score of a path ending with each tag.

    Returns:
        `[B]`: start[tags[b, 0]] + end[tags[b, lengths[b] - 1]], or 0 where lengths[b] == 0.
    """
    start = tf.convert_to_tensor(start)
    end = tf.convert_to_tensor(end)
    tags = tf.cast(tags, tf.int32)
    lengths = tf.cast(lengths, tf.int32)
    mask = tf.sequence_mask(lengths, tf.shape(tags)[1])
    tags = tf.where(mask, tags, 0)
    # Select the first and last positions with masks rather than tags[:, 0] so that T == 0 needs no special case.
    positions = tf.range(tf.shape(tags)[1])[None, :]  # [1, T]
    is_first = tf.logical_and(mask, tf.equal(positions, 0))
    is_last = tf.logical_and(mask, tf.equal(positions, lengths[:, None] - 1))
    zero = tf.zeros([], start.dtype)
    first = tf.where(is_first, tf.gather(start, tags), zero)
    last = tf.where(is_last, tf.gather(end, tags), zero)
    return tf.reduce_sum(first + last, axis=1)


def crf_sequence_score(emissions, tags, lengths, transitions, start, end):
    """Unnormalised score of given tag paths: unary + binary + start + end terms.

    Args:
        emissions: Float `[B, T, N]`.
        tags: Int `[B, T]`; entries past the length are ignored.
        lengths: Int `[B]`; a length of 0 scores 0.
        transitions: `[N, N]` transition scores, indexed `[from, to]`.
        start: `[N]`.
        end: `[N]`.

    Returns:
        `[B]` in the emissions' dtype.
    """
    emissions, lengths, _, transitions, start, end = _prepare(emissions, lengths, transitions, start, end)
    return (
        crf_unary_score(emissions, tags, lengths)
        + crf_binary_score(tags, lengths, transitions)
        + crf_boundary_score(tags, lengths, start, end)
    )


# --------------------------------------------------------------------------------------------------------------------
# Sums and maxima over all tag paths.
# --------------------------------------------------------------------------------------------------------------------


def crf_log_norm(emissions, lengths, transitions, start, end):
    """Log partition function: log of the sum of exp(score) over every tag path (forward algorithm).

    alpha_t[j] is the log-sum of the scores of all paths over tokens 0..t that end in tag j;
    alpha_0 = start + emissions[0] and alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + transitions[i, j]) + emissions[t, j].
    Past a sequence's length alpha is carried unchanged, so the final alpha is the one at its last real token.

    Args:
        emissions: Float `[B, T, N]`.
        lengths: Int `[B]`; a length of 0 gives 0 (the empty path is the only one, with score 0).
        transitions: `[N, N]` transition scores, indexed `[from, to]`.
        start: `[N]`.
        end: `[N]`.

    Returns:
        `[B]` in the emissions' dtype.
    """
    emissions, lengths, mask, transitions, start, end = _prepare(emissions, lengths, transitions, start, end)
    emissions, mask = _with_two_steps(emissions, mask)
    steps = tf.transpose(emissions, [1, 0, 2])  # [T', B, N] with T' = max(T, 2), time-major for tf.scan
    active = tf.transpose(mask)  # [T', B]
    alpha0 = start[None, :] + steps[0]  # [B, N]

    def forward(alpha, inputs):
        emission, is_real = inputs  # [B, N], [B]
        # [B, from, 1] + [1, from, to] -> reduce over "from".
        new_alpha = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None, :, :], axis=1) + emission
        return tf.where(is_real[:, None], new_alpha, alpha)

    alphas = tf.scan(forward, (steps[1:], active[1:]), initializer=alpha0)  # [T'-1, B, N]
    final = alphas[-1] + end[None, :]
    log_norm = tf.reduce_logsumexp(final, axis=1)
    return tf.where(lengths > 0, log_norm, tf.zeros([], log_norm.dtype))


def crf_log_likelihood(emissions, tags, lengths, transitions, start, end):
    """Log-probability of given tag paths under the CRF: sequence score - log normaliser.

    Args:
        emissions: Float `[B, T, N]`.
        tags: Int `[B, T]`; entries past the length are ignored.
        lengths: Int `[B]`; a length of 0 gives 0 (log 1).
        transitions: `[N, N]` transition scores, indexed `[from, to]`.
        start: `[N]`.
        end: `[N]`.

    Returns:
        `[B]` in the emissions' dtype, each <= 0. The training loss is its negated mean.
    """
    return crf_sequence_score(emissions, tags, lengths, transitions, start, end) - crf_log_norm(
        emissions, lengths, transitions, start, end
    )


def crf_decode(emissions, lengths, transitions, start, end):
    """Highest-scoring tag path of each sequence (Viterbi with backpointers).

    delta_t[j] is the best score of a path over tokens 0..t ending in tag j and backpointer_t[j] the tag at t-1 on
    that path. Past a sequence's length delta is carried unchanged and the backpointer is the identity, so the
    backtrack walks through the padding without moving and reaches the last real token with the best final tag.

    Args:
        emissions: Float `[B, T, N]`; T == 0 and B == 0 are allowed.
        lengths: Int `[B]`.
        transitions: `[N, N]` transition scores, indexed `[from, to]`. Add the mask from `constraint_mask` here
            (and to `start`) to forbid transitions.
        start: `[N]`.
        end: `[N]`.

    Returns:
        `(tags, scores)`: int32 `[B, T]` with 0 at positions past the length (an all-0 row for length 0), and `[B]`
        the score of each returned path (0 for length 0).
    """
    emissions, lengths, mask, transitions, start, end = _prepare(emissions, lengths, transitions, start, end)
    num_steps = tf.shape(emissions)[1]
    emissions, mask = _with_two_steps(emissions, mask)
    steps = tf.transpose(emissions, [1, 0, 2])  # [T', B, N] with T' = max(T, 2)
    active = tf.transpose(mask)  # [T', B]
    delta0 = start[None, :] + steps[0]  # [B, N]
    identity = tf.broadcast_to(tf.range(tf.shape(transitions)[0], dtype=tf.int32)[None, :], tf.shape(delta0))

    def forward(carry, inputs):
        delta, _ = carry
        emission, is_real = inputs
        scores = delta[:, :, None] + transitions[None, :, :]  # [B, from, to]
        best_previous = tf.argmax(scores, axis=1, output_type=tf.int32)  # [B, to]
        new_delta = tf.reduce_max(scores, axis=1) + emission
        return (
            tf.where(is_real[:, None], new_delta, delta),
            tf.where(is_real[:, None], best_previous, identity),
        )

    deltas, backpointers = tf.scan(forward, (steps[1:], active[1:]), initializer=(delta0, identity))
    final = deltas[-1] + end[None, :]  # [B, N]
    last_tag = tf.argmax(final, axis=1, output_type=tf.int32)  # [B]
    best_score = tf.reduce_max(final, axis=1)

    def backtrack(tag, backpointer):
        # backpointer [B, N] maps the tag at step t to the best tag at step t-1.
        return tf.gather(backpointer, tag, batch_dims=1)

    # Walking backwards from the last step; output k is the tag at step k, for k = 0..T'-2.
    earlier = tf.scan(backtrack, backpointers, initializer=last_tag, reverse=True)  # [T'-1, B]
    tags = tf.transpose(tf.concat([earlier, last_tag[None]], axis=0))  # [B, T']
    tags = tf.where(mask, tags, 0)[:, :num_steps]
    scores = tf.where(lengths > 0, best_score, tf.zeros([], best_score.dtype))
    return tags, scores


# --------------------------------------------------------------------------------------------------------------------
# IOB constraints, as data.
# --------------------------------------------------------------------------------------------------------------------


def _parse_iob(tags: Sequence[str]) -> list[tuple[str, str | None]]:
    """Splits each tag into (prefix, entity type); raises ValueError naming the first bad tag."""
    tags = list(tags)
    if not tags:
        raise ValueError("tags is empty: a CRF needs at least one tag")
    parsed: list[tuple[str, str | None]] = []
    for index, tag in enumerate(tags):
        if not isinstance(tag, str):
            raise ValueError(f"tag {index} is {tag!r}, not a string")
        if tag == "O":
            parsed.append(("O", None))
            continue
        prefix, dash, kind = tag.partition("-")
        if dash != "-" or prefix not in ("B", "I") or not kind:
            raise ValueError(f"tag {index} is {tag!r}: expected 'O', 'B-<type>' or 'I-<type>'")
        parsed.append((prefix, kind))
    seen: set[str] = set()
    for tag in tags:
        if tag in seen:
            raise ValueError(f"tag {tag!r} appears twice in {tags!r}")
        seen.add(tag)
    return parsed


def iob_allowed_transitions(tags: Sequence[str]) -> set[tuple[int, int]]:
    """Tag pairs (from, to) that may follow each other under IOB2.

    I-X continues an entity of type X, so it may only follow B-X or I-X; every other pair is allowed (O and B-X may
    follow anything).

    Args:
        tags: Tag names, e.g. `("O", "B-ORG", "I-ORG", ...)`; index i in the result refers to tags[i].

    Returns:
        The set of allowed `(from_index, to_index)` pairs.

    Raises:
        ValueError: a tag is not 'O', 'B-<type>' or 'I-<type>', or appears twice.
    """
    parsed = _parse_iob(tags)
    allowed = set()
    for i, (_, from_kind) in enumerate(parsed):
        for j, (to_prefix, to_kind) in enumerate(parsed):
            if to_prefix != "I" or from_kind == to_kind:
                allowed.add((i, j))
    return allowed


def iob_allowed_starts(tags: Sequence[str]) -> set[int]:
    """Tag indices that may start a tweet under IOB2 (anything but I-X, which needs an entity to continue).

    Args:
        tags: Tag names.

    Returns:
        The set of allowed first-tag indices.

    Raises:
        ValueError: as `iob_allowed_transitions`.
    """
    return {index for index, (prefix, _) in enumerate(_parse_iob(tags)) if prefix != "I"}


def constraint_mask(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Additive masks that forbid the IOB-invalid transitions and starts at decode time.

    Args:
        tags: Tag names.

    Returns:
        `(trans_mask, start_mask)`: float32 arrays `[N, N]` and `[N]` holding 0 where allowed and `FORBIDDEN_SCORE`
        where forbidden, to add to the learnt transitions and start scores before `crf_decode`.
    """
    num_tags = len(tags)
    trans_mask = np.full((num_tags, num_tags), FORBIDDEN_SCORE, dtype=np.float32)
    for i, j in iob_allowed_transitions(tags):
        trans_mask[i, j] = 0.0
    start_mask = np.full((num_tags,), FORBIDDEN_SCORE, dtype=np.float32)
    start_mask[sorted(iob_allowed_starts(tags))] = 0.0
    return trans_mask, start_mask


# --------------------------------------------------------------------------------------------------------------------
# Keras layer.
# --------------------------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tweetner")
class CRF(keras.layers.Layer):
    """Linear-chain CRF output layer (Lample et al. 2016) with learnt start and end transitions.

    Holds the transition, start and end scores. Calling the layer decodes (Viterbi, in the graph); training maximises
    `log_likelihood`, which applies no IOB constraints because the training data may contain invalid sequences.
    With `constrain_decoding`, decoding adds `constraint_mask(tags)` (constants, not weights) so that no I-X tag
    follows anything but B-X/I-X and no tweet starts with I-X.

    The computation runs in the layer's variable dtype (float32 unless the layer is built with another dtype), even
    under a mixed-precision policy, because sums of scores over a tweet lose too much in half precision.

    Args:
        tags: Tag names in index order, e.g. `tweetner.data.TAGS`.
        constrain_decoding: Whether decoding forbids IOB-invalid transitions and starts.
        **kwargs: Standard layer arguments (name, dtype, ...).

    Call args:
        emissions: Float `[B, T, N]` tag scores from the encoder.
        lengths: Int `[B]` number of real tokens per tweet.

    Returns:
        int32 `[B, T]` decoded tag indices, 0 past each length.
    """

    def __init__(self, tags: Sequence[str], constrain_decoding: bool = True, **kwargs):
        super().__init__(**kwargs)
        _parse_iob(tags)  # fail at construction on a malformed tag list
        self.tags = tuple(tags)
        self.constrain_decoding = bool(constrain_decoding)
        self.num_tags = len(self.tags)
        # Padding is carried by `lengths`; accepting (and ignoring) an upstream Keras mask keeps Keras quiet.
        self.supports_masking = True
        # NumPy constants, deliberately not weights: they follow from the tag names and must never be trained.
        self._trans_mask, self._start_mask = constraint_mask(self.tags)

    def build(self, emissions_shape=None, lengths_shape=None):
        if emissions_shape is not None and emissions_shape[-1] is not None and emissions_shape[-1] != self.num_tags:
            raise ValueError(
                f"CRF over {self.num_tags} tags got emissions with last dimension {emissions_shape[-1]}"
            )
        # transitions[i, j] is the score of moving FROM tag i TO tag j.
        self.transitions = self.add_weight(
            shape=(self.num_tags, self.num_tags), initializer="glorot_uniform", name="transitions"
        )
        self.start_transitions = self.add_weight(shape=(self.num_tags,), initializer="zeros", name="start_transitions")
        self.end_transitions = self.add_weight(shape=(self.num_tags,), initializer="zeros", name="end_transitions")

    def _parameters(self, emissions):
        """Returns emissions and the (transitions, start, end) scores as tensors of the variable dtype."""
        if not self.built:
            # log_likelihood may be the first method used (a training step before any decode).
            self.build(tuple(emissions.shape))
        dtype = self.variable_dtype
        emissions = tf.cast(emissions, dtype)
        transitions = tf.cast(self.transitions, dtype)
        start = tf.cast(self.start_transitions, dtype)
        end = tf.cast(self.end_transitions, dtype)
        return emissions, transitions, start, end

    def decode(self, emissions, lengths):
        """Viterbi decode with the layer's scores (and constraints when `constrain_decoding`).

        Args:
            emissions: Float `[B, T, N]`.
            lengths: Int `[B]`.

        Returns:
            `(tags, scores)`: int32 `[B, T]` (0 past each length) and `[B]` path scores.
        """
        emissions, transitions, start, end = self._parameters(tf.convert_to_tensor(emissions))
        if self.constrain_decoding:
            transitions = transitions + tf.constant(self._trans_mask, dtype=transitions.dtype)
            start = start + tf.constant(self._start_mask, dtype=start.dtype)
        return crf_decode(emissions, lengths, transitions, start, end)

    def call(self, emissions, lengths):
        tags, _ = self.decode(emissions, lengths)
        return tags

    def compute_output_spec(self, emissions, lengths):
        return keras.KerasTensor(tuple(emissions.shape[:2]), dtype="int32")

    def log_likelihood(self, emissions, tags, lengths):
        """Log-probability of the gold tag paths, without decode constraints.

        Args:
            emissions: Float `[B, T, N]`.
            tags: Int `[B, T]` gold tag indices; entries past the length are ignored.
            lengths: Int `[B]`.

        Returns:
            `[B]` log-likelihoods in the variable dtype (0 for length 0).
        """
        emissions, transitions, start, end = self._parameters(tf.convert_to_tensor(emissions))
        return crf_log_likelihood(emissions, tags, lengths, transitions, start, end)

    def get_config(self):
        config = super().get_config()
        config.update({"tags": list(self.tags), "constrain_decoding": self.constrain_decoding})
        return config
