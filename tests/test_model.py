"""Tiny-model behavioural tests of the multi-task network and its featurizer."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tweetner.config import ModelConfig
from tweetner.features import Featurizer
from tweetner.model import CharCNN, TweetTagger
from tweetner.vocab import build_word_vocab, char_vocab

TWEETS = [
    "new exploit for acme router 2.1 cve-2031-0001",
    "patch now",
    "",
    "lunch was great today with friends and family",
    "   ",
]
TINY = ModelConfig(word_dim=6, char_dim=3, char_filters=4, char_kernel=3, max_word_len=8, lstm_units=5,
                   relevance_hidden=4, dropout=0.0, ngram_buckets=0)


def _setup(config: ModelConfig = TINY):
    words = build_word_vocab([t.split() for t in TWEETS[:2]], max_size=10)
    featurizer = Featurizer(words, char_vocab(), config.max_word_len)
    model = TweetTagger(config, len(words), len(char_vocab()))
    model.build_weights(config.max_word_len)
    return featurizer, model


def _run(featurizer, model, tweets):
    f = featurizer(tf.constant(tweets, tf.string))
    out = model({"word_ids": f["word_ids"], "char_ids": f["char_ids"]})
    return f, out


def test_featurizer_shapes_reserved_ids_and_empty_rows():
    featurizer, _ = _setup()
    f = featurizer(tf.constant(TWEETS, tf.string))
    assert f["word_ids"].shape == (5, 8) and f["char_ids"].shape == (5, 8, TINY.max_word_len)
    assert f["lengths"].numpy().tolist() == [7, 2, 0, 8, 0]
    ids = f["word_ids"].numpy()
    assert (ids[2] == 0).all() and (ids[4] == 0).all()  # empty tweets are all padding
    assert (ids[3, :8] == 1).all()  # unseen words are [UNK] = 1, never padding
    assert f["tokens"].numpy()[0, 6].decode() == "cve-2031-0001"
    # "cve-2031-0001" is cut to max_word_len characters for the character CNN only.
    assert (f["char_ids"].numpy()[0, 6] > 0).sum() == TINY.max_word_len


def test_batch_of_only_empty_tweets_still_has_a_time_axis():
    featurizer, model = _setup()
    f, out = _run(featurizer, model, ["", "  ", "\x00"])
    assert f["word_ids"].shape == (3, 1)
    assert out["emissions"].shape == (3, 1, len(TINY.tags))
    assert model.decode(out["emissions"], out["lengths"]).numpy().tolist() == [[0], [0], [0]]
    assert np.isfinite(out["relevance_logit"].numpy()).all()


def test_padded_batch_equals_one_by_one():
    featurizer, model = _setup()
    _, batch = _run(featurizer, model, TWEETS)
    batch_tags = model.decode(batch["emissions"], batch["lengths"]).numpy()
    for i, tweet in enumerate(TWEETS):
        _, one = _run(featurizer, model, [tweet])
        n = int(one["lengths"][0])
        np.testing.assert_allclose(one["relevance_logit"].numpy()[0], batch["relevance_logit"].numpy()[i], atol=1e-5)
        np.testing.assert_allclose(one["emissions"].numpy()[0, :n], batch["emissions"].numpy()[i, :n], atol=1e-5)
        assert model.decode(one["emissions"], one["lengths"]).numpy()[0, :n].tolist() == batch_tags[i, :n].tolist()


@pytest.mark.parametrize("use_crf", [True, False])
def test_gradients_reach_every_trainable_weight(use_crf):
    config = ModelConfig(**{**TINY.__dict__, "use_crf": use_crf})
    featurizer, model = _setup(config)
    f = featurizer(tf.constant(TWEETS[:2], tf.string))
    tags = tf.constant([[0, 0, 0, 1, 3, 5, 7, 9, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0]][:2], tf.int32)[:, : f["word_ids"].shape[1]]
    with tf.GradientTape() as tape:
        out = model({"word_ids": f["word_ids"], "char_ids": f["char_ids"]}, training=True)
        loss = tf.reduce_sum(model.tag_loss(out["emissions"], tags, out["lengths"])) + tf.reduce_sum(
            tf.nn.sigmoid_cross_entropy_with_logits(labels=[1.0, 0.0], logits=out["relevance_logit"]))
    grads = tape.gradient(loss, model.trainable_variables)
    names = [v.path for v in model.trainable_variables]
    assert any("crf" in n for n in names) == use_crf
    for name, g in zip(names, grads):
        assert g is not None and float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0, name


def test_frozen_word_embedding_gets_no_gradient():
    config = ModelConfig(**{**TINY.__dict__, "train_word_embeddings": False})
    _, model = _setup(config)
    assert all("word_embedding" not in v.path for v in model.trainable_variables)
    assert any("word_embedding" in v.path for v in model.non_trainable_variables)


def test_no_char_cnn_variant_has_no_char_weights():
    config = ModelConfig(**{**TINY.__dict__, "use_chars": False})
    featurizer, model = _setup(config)
    _run(featurizer, model, TWEETS)
    assert model.char_cnn is None and all("char" not in v.path for v in model.weights)


def test_char_cnn_ignores_padding_and_zeros_empty_words():
    layer = CharCNN(num_chars=10, char_dim=3, filters=4, kernel=3)
    ids = tf.constant([[[2, 3, 0, 0], [0, 0, 0, 0]]], tf.int32)
    out = layer(ids).numpy()
    assert out.shape == (1, 2, 4)
    assert (out[0, 1] == 0).all()
    # The word is the two characters alone: the convolution's own zero padding, nothing from the padded slots.
    conv = layer.conv(layer.embedding(ids[0, :1, :2])).numpy()[0]
    np.testing.assert_allclose(out[0, 0], conv.max(0), atol=1e-6)
    # So padding the character axis further changes nothing.
    wider = tf.pad(ids, [[0, 0], [0, 0], [0, 5]])
    np.testing.assert_allclose(layer(wider).numpy(), out, atol=1e-6)


def test_config_round_trip_and_identical_outputs(tmp_path):
    featurizer, model = _setup()
    clone = TweetTagger.from_config(model.get_config())
    clone.build_weights(TINY.max_word_len)
    model.save_weights(str(tmp_path / "w.weights.h5"))
    clone.load_weights(str(tmp_path / "w.weights.h5"))
    assert clone.config == model.config
    _, a = _run(featurizer, model, TWEETS)
    _, b = _run(featurizer, clone, TWEETS)
    np.testing.assert_allclose(a["emissions"].numpy(), b["emissions"].numpy(), atol=1e-6)
    np.testing.assert_allclose(a["relevance_logit"].numpy(), b["relevance_logit"].numpy(), atol=1e-6)


def test_config_validation_names_the_values():
    with pytest.raises(ValueError, match="char_kernel .5. must not exceed max_word_len .4."):
        ModelConfig(char_kernel=5, max_word_len=4)
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(dropout=1.0)


def test_wide_ngram_part_hashes_words_and_bigrams_and_learns():
    config = ModelConfig(**{**TINY.__dict__, "ngram_buckets": 64})
    words = build_word_vocab([t.split() for t in TWEETS[:2]], max_size=10)
    featurizer = Featurizer(words, char_vocab(), config.max_word_len, config.ngram_buckets)
    f = featurizer(tf.constant(["patch now", "patch", ""], tf.string))
    ids = f["ngram_ids"].numpy()
    assert ids.shape == (3, 3)  # "patch", "now", "patch now"
    assert (ids[0] > 0).all() and ids[1, 0] == ids[0, 0] and (ids[1, 1:] == 0).all() and (ids[2] == 0).all()
    assert ids.max() < 64
    model = TweetTagger(config, len(words), len(char_vocab()))
    model.build_weights(config.max_word_len)
    with tf.GradientTape() as tape:
        out = model({k: v for k, v in f.items() if k.endswith("_ids")}, training=True)
        loss = tf.reduce_sum(out["relevance_logit"])
    grad = tape.gradient(loss, model.ngram_weights.embeddings)
    assert float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(grad)))) > 0
