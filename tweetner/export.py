"""The raw-string pipeline (featurizer + network + threshold + CRF decoding) and its SavedModel export.

Layout, the one TF Serving loads:

    <root>/<name>/<version>/saved_model.pb, variables/, assets/    the SavedModel
    <root>/<name>/<version>/assets.extra/tweetner/                  what `train` wrote: config.json, vocabularies,
                                                                    validation.json, MODEL_CARD.md

A version is written into a hidden temporary folder beside its final place and renamed into place only when
complete, so a crash mid-export never leaves a half-written version where a server would pick it up.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import tensorflow as tf

from tweetner.features import Featurizer
from tweetner.serving import SIGNATURE
from tweetner.model import TweetTagger

EXTRA = Path("assets.extra") / "tweetner"


class _Untracked:
    """Holds an object without making it part of the SavedModel's object graph."""

    def __init__(self, value):
        self.value = value


class TweetPipeline(tf.Module):
    """Raw tweets in, relevance and IOB tags out, entirely in TensorFlow ops.

    Args:
        featurizer: the cleaning/tokenising/lookup module used in training.
        model: the trained network.
        tags: tag names, index = tag id.
        threshold: relevance decision threshold tuned on validation data.
    """

    def __init__(self, featurizer: Featurizer, model: TweetTagger, tags: Sequence[str], threshold: float):
        super().__init__(name="tweetner")
        self.featurizer = featurizer
        # The network's weights are saved once, as the raw tf.Variables behind the Keras variables (as Keras's own
        # export does): TF Serving's session-based loader restores exactly these. The Keras model itself is kept
        # out of the object graph, or every weight would be written twice.
        self.backend_variables = [v.value for v in model.variables]
        self._untracked = _Untracked(model)
        self.tag_names = tf.constant(list(tags), dtype=tf.string)
        self.threshold = tf.constant(float(threshold), dtype=tf.float32)

    @property
    def model(self) -> TweetTagger:
        return self._untracked.value

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="tweets")], jit_compile=False)
    def serve(self, tweets: tf.Tensor) -> dict[str, tf.Tensor]:
        """Predicts for a batch of raw tweets.

        Args:
            tweets: [B] tf.string, raw tweets.

        Returns:
            "probability" [B] float32 relevance probability; "relevant" [B] int32 decision at the tuned threshold
            (0 for a tweet with no tokens);
            "tokens" [B, T] string and "tags" [B, T] string (IOB tags for every tweet, padded with "");
            "lengths" [B] int32 token counts. T >= 1 even when every tweet is empty.
        """
        f = self.featurizer(tweets)
        out = self.model({k: v for k, v in f.items() if k.endswith("_ids")}, training=False)
        probability = tf.sigmoid(out["relevance_logit"])
        tag_ids = self.model.decode(out["emissions"], f["lengths"])
        real = tf.sequence_mask(f["lengths"], tf.shape(tag_ids)[1])
        tags = tf.where(real, tf.gather(self.tag_names, tag_ids), tf.constant("", tf.string))
        return {
            "probability": probability,
            # A tweet with no tokens left after cleaning cannot mention a threat: never relevant.
            "relevant": tf.cast((probability >= self.threshold) & (f["lengths"] > 0), tf.int32),
            "tokens": f["tokens"],
            "tags": tags,
            "lengths": f["lengths"],
        }


def next_version(model_root: Path) -> int:
    """The version number after the highest one in `model_root` (1 for a new model)."""
    versions = [int(p.name) for p in Path(model_root).glob("*") if p.is_dir() and re.fullmatch(r"\d+", p.name)]
    return max(versions, default=0) + 1


def write_atomically(final_dir: Path, fill: Callable[[Path], None]) -> Path:
    """Builds a directory with `fill(tmp_dir)` and renames it to `final_dir` once complete.

    The temporary folder is hidden (a dot name, which TF Serving ignores) and on the same file system, so the rename
    is atomic. An existing `final_dir` is replaced only after the new one is complete.
    """
    final_dir = Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.partial-", dir=final_dir.parent))
    try:
        fill(tmp)
        # mkdtemp makes the folder private (0700); a model server running as another user must be able to read it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        if final_dir.exists():
            old = final_dir.with_name(f".{final_dir.name}.old-{os.getpid()}")
            os.rename(final_dir, old)
            os.rename(tmp, final_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final_dir


def save_pipeline(pipeline: TweetPipeline, directory: Path) -> None:
    """Writes the SavedModel with the raw-string `serving_default` signature into `directory`."""
    tf.saved_model.save(pipeline, str(directory), signatures={SIGNATURE: pipeline.serve.get_concrete_function()})
