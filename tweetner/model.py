"""The multi-task network: character CNN + word embedding -> shared BiLSTM -> relevance head and CRF tag head.

References: Lample et al. 2016 (BiLSTM-CRF), Ma and Hovy 2016 (character CNN), and the organisers' multi-task design
(Dionísio et al., IJCNN 2020), with masked pooling for the relevance head.
"""
from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tweetner.config import ModelConfig, from_json, to_json
from tweetner.crf import CRF


@keras.saving.register_keras_serializable(package="tweetner")
class CharCNN(keras.layers.Layer):
    """Character CNN word features (Ma and Hovy 2016), max-pooled over the real characters only.

    Padded characters are excluded from the max-pool and an all-padding word (a padded time step) maps to zeros.
    """

    def __init__(self, num_chars: int, char_dim: int, filters: int, kernel: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.num_chars, self.char_dim, self.filters, self.kernel = num_chars, char_dim, filters, kernel
        self.embedding = keras.layers.Embedding(num_chars, char_dim, name="char_embedding")
        self.conv = keras.layers.Conv1D(filters, kernel, padding="same", activation="tanh", name="char_conv")

    def call(self, char_ids: tf.Tensor) -> tf.Tensor:
        """[B, T, C] int32 -> [B, T, filters]."""
        shape = tf.shape(char_ids)
        flat = tf.reshape(char_ids, [-1, shape[2]])  # [B*T, C]
        real = (flat > 0)[:, :, None]
        # Zero the padding characters' embeddings: the convolution then sees exactly what its own "same" zero
        # padding gives, so the result does not depend on how far a batch pads the character axis.
        h = self.conv(self.embedding(flat) * tf.cast(real, self.compute_dtype))  # [B*T, C, F]
        pooled = tf.reduce_max(tf.where(real, h, tf.constant(-np.inf, h.dtype)), axis=1)
        # A word with no characters (padding) has -inf everywhere: map it to zeros.
        pooled = tf.where(tf.reduce_any(real, axis=1), pooled, tf.zeros_like(pooled))
        return tf.reshape(pooled, tf.concat([shape[:2], [self.filters]], 0))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_chars": self.num_chars, "char_dim": self.char_dim,
                "filters": self.filters, "kernel": self.kernel}


@keras.saving.register_keras_serializable(package="tweetner")
class TweetTagger(keras.Model):
    """Joint relevance classifier and IOB tagger over one shared BiLSTM encoder.

    Inputs are the featurizer's id tensors; see `tweetner.features.Featurizer`.

    Args:
        config: model sizes and switches.
        num_words: word vocabulary size (reserved entries included).
        num_chars: character vocabulary size.
    """

    def __init__(self, config: ModelConfig | dict, num_words: int, num_chars: int, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = from_json(ModelConfig, config)
        self.config, self.num_words, self.num_chars = config, int(num_words), int(num_chars)
        c = config
        # --- layers ---------------------------------------------------------------------------------------------
        self.word_embedding = keras.layers.Embedding(
            self.num_words, c.word_dim, trainable=c.train_word_embeddings, name="word_embedding"
        )
        self.char_cnn = (
            CharCNN(self.num_chars, c.char_dim, c.char_filters, c.char_kernel, name="char_cnn") if c.use_chars else None
        )
        self.input_dropout = keras.layers.Dropout(c.dropout)
        self.bilstm = keras.layers.Bidirectional(keras.layers.LSTM(c.lstm_units, return_sequences=True), name="bilstm")
        self.encoder_dropout = keras.layers.Dropout(c.dropout)
        self.relevance_hidden = (
            keras.layers.Dense(c.relevance_hidden, activation="relu", name="relevance_hidden")
            if c.relevance_hidden else None
        )
        self.relevance = keras.layers.Dense(1, name="relevance")
        # Optional "wide" part of the relevance head: one learnt weight per hashed word / word bigram, summed.
        self.ngram_weights = (
            keras.layers.Embedding(c.ngram_buckets, 1, embeddings_initializer="zeros", name="ngram_weights")
            if c.ngram_buckets else None
        )
        self.emission = keras.layers.Dense(len(c.tags), name="tags")
        self.crf = CRF(c.tags, name="crf") if c.use_crf else None

    def build(self, input_shape: Any = None) -> None:
        # Sub-layers build themselves on the first call; see `build_weights` to create every weight eagerly.
        self.built = True

    # --- graph ------------------------------------------------------------------------------------------------------
    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        """Runs the network.

        Args:
            inputs: "word_ids" [B, T] int32 (0 = padding), "char_ids" [B, T, C] int32, and "ngram_ids" [B, G] int32
                when config.ngram_buckets > 0.

        Returns:
            "relevance_logit" [B], "emissions" [B, T, num_tags], "lengths" [B] int32.
        """
        word_ids = inputs["word_ids"]
        mask = word_ids > 0  # real tokens are never id 0 (unknown words are 1)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        features = [self.word_embedding(word_ids)]
        if self.char_cnn is not None:
            features.append(self.char_cnn(inputs["char_ids"]))
        x = self.input_dropout(tf.concat(features, axis=-1), training=training)
        h = self.encoder_dropout(self.bilstm(x, mask=mask, training=training), training=training)  # [B, T, 2U]

        # Relevance: max and mean over the real tokens only; an empty tweet pools to zeros.
        m = tf.cast(mask, h.dtype)[:, :, None]
        mean = tf.reduce_sum(h * m, axis=1) / tf.maximum(tf.reduce_sum(m, axis=1), 1.0)
        mx = tf.reduce_max(tf.where(mask[:, :, None], h, tf.constant(-np.inf, h.dtype)), axis=1)
        mx = tf.where(lengths[:, None] > 0, mx, tf.zeros_like(mx))
        pooled = tf.concat([mx, mean], axis=-1)
        if self.relevance_hidden is not None:
            pooled = self.relevance_hidden(pooled)
        logit = tf.squeeze(self.relevance(pooled), -1)
        if self.ngram_weights is not None:
            ngrams = inputs["ngram_ids"]
            w = tf.squeeze(self.ngram_weights(ngrams), -1) * tf.cast(ngrams > 0, h.dtype)
            logit = logit + tf.reduce_sum(w, axis=1)
        return {
            "relevance_logit": logit,
            "emissions": self.emission(h),
            "lengths": lengths,
        }

    def decode(self, emissions: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """Best tag ids [B, T] int32: constrained Viterbi with the CRF, argmax otherwise (0 = "O" past the length)."""
        if self.crf is not None:
            return self.crf(emissions, lengths)
        best = tf.argmax(emissions, axis=-1, output_type=tf.int32)
        return tf.where(tf.sequence_mask(lengths, tf.shape(emissions)[1]), best, tf.zeros_like(best))

    def tag_loss(self, emissions: tf.Tensor, tag_ids: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """Per-tweet tag loss [B]: CRF negative log-likelihood, or summed token cross-entropy without a CRF."""
        if self.crf is not None:
            return -self.crf.log_likelihood(emissions, tag_ids, lengths)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tag_ids, logits=emissions)
        return tf.reduce_sum(ce * tf.cast(tf.sequence_mask(lengths, tf.shape(emissions)[1]), ce.dtype), axis=1)

    # --- config -----------------------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "config": to_json(self.config), "num_words": self.num_words,
                "num_chars": self.num_chars}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TweetTagger":
        return cls(**config)

    def build_weights(self, max_word_len: int) -> None:
        """Creates every weight by running one tiny batch through the network and the decoder.

        Keras builds subclassed models lazily and the CRF is only reached through `decode`, so without this
        `get_weights` would grow after the first training step (checkpoints rely on a fixed list).
        """
        out = self({"word_ids": tf.ones([1, 1], tf.int32), "char_ids": tf.ones([1, 1, max_word_len], tf.int32),
                    "ngram_ids": tf.ones([1, 1], tf.int32)})
        self.decode(out["emissions"], out["lengths"])
