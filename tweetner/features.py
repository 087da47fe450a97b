"""Raw tweet strings -> padded id tensors, in TensorFlow ops.

This is the one implementation of cleaning, tokenising and lookup: training feeds its tweets through it, in-process
prediction calls it, and the exported SavedModel holds it (its lookup tables become SavedModel assets), so training
and serving cannot drift apart.
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from tweetner import text
from tweetner.vocab import RESERVED


def _table(tokens: Sequence[str], name: str) -> tf.lookup.StaticHashTable:
    """Maps each token to its index in `tokens`; anything else (unknown) to 1. Padding "" is never looked up."""
    keys = list(tokens[len(RESERVED):])
    init = tf.lookup.KeyValueTensorInitializer(
        keys=tf.constant(keys, dtype=tf.string),
        values=tf.range(len(RESERVED), len(RESERVED) + len(keys), dtype=tf.int64),
    )
    return tf.lookup.StaticHashTable(init, default_value=1, name=name)


class Featurizer(tf.Module):
    """Turns a batch of raw tweets into word ids, character ids and token strings.

    Args:
        words: word vocabulary (index = id; 0 padding, 1 unknown).
        chars: character vocabulary, same convention.
        max_word_len: characters kept per word (longer words are cut for the character CNN only).
        ngram_buckets: when > 0, also hash every word and word bigram into ids 1..ngram_buckets-1 ("ngram_ids",
            0 = padding) for the relevance head's bag-of-n-grams part.
    """

    def __init__(self, words: Sequence[str], chars: Sequence[str], max_word_len: int, ngram_buckets: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        self.ngram_buckets = int(ngram_buckets)
        if tuple(words[: len(RESERVED)]) != RESERVED or tuple(chars[: len(RESERVED)]) != RESERVED:
            raise ValueError("vocabularies must start with the reserved entries (padding, [UNK])")
        self.max_word_len = int(max_word_len)
        self.word_table = _table(words, "word_ids")
        self.char_table = _table(chars, "char_ids")

    def __call__(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        """Featurises raw tweets.

        Args:
            texts: [B] tf.string, raw tweets (any bytes; invalid UTF-8 is replaced).

        Returns:
            dict with "tokens" [B, T] tf.string (padded with ""), "word_ids" [B, T] int32, "char_ids"
            [B, T, C] int32 (0 = padding; C = the longest word's length, at most max_word_len) and "lengths" [B] int32, where T = max(1, longest tweet)
            so a batch of only empty tweets still has a time axis; with ngram_buckets, also "ngram_ids" [B, G] int32
            (G >= 1).
        """
        clean = text.clean_tf(texts)
        tokens = tf.strings.split(clean)  # ragged [B, None]; clean text has single spaces only
        lengths = tf.cast(tokens.row_lengths(), tf.int32)
        width = tf.maximum(tf.reduce_max(tf.concat([lengths, [0]], 0)), 1)
        batch = tf.shape(texts)[0]
        word_ids = tf.ragged.map_flat_values(self.word_table.lookup, tokens)
        # Cleaned text is ASCII, so bytes are characters.
        chars = tf.strings.bytes_split(tf.strings.substr(tokens, 0, self.max_word_len))
        char_ids = tf.ragged.map_flat_values(self.char_table.lookup, chars)
        # The character axis is as wide as the batch's longest (cut) word, not max_word_len: most words are short,
        # and the character CNN's cost grows with this width.
        longest = tf.reduce_max(tf.concat([tf.strings.length(tokens.flat_values), [1]], 0))
        char_width = tf.minimum(longest, self.max_word_len)
        out = {}
        if self.ngram_buckets:
            grams = tf.concat([tokens, tf.strings.ngrams(tokens, 2, separator=" ")], axis=1)
            ids = tf.ragged.map_flat_values(
                lambda g: tf.strings.to_hash_bucket_fast(g, self.ngram_buckets - 1) + 1, grams)
            g_width = tf.maximum(tf.reduce_max(tf.concat([tf.cast(ids.row_lengths(), tf.int32), [0]], 0)), 1)
            out["ngram_ids"] = tf.cast(ids.to_tensor(0, shape=tf.stack([batch, g_width])), tf.int32)
        return {
            **out,
            "tokens": tokens.to_tensor(default_value="", shape=tf.stack([batch, width])),
            "word_ids": tf.cast(word_ids.to_tensor(0, shape=tf.stack([batch, width])), tf.int32),
            "char_ids": tf.cast(
                char_ids.to_tensor(0, shape=tf.stack([batch, width, char_width])), tf.int32
            ),
            "lengths": lengths,
        }
