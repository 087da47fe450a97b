"""The training loop: vocabularies, embeddings, joint loss, early stopping, threshold tuning and export files."""
from __future__ import annotations

import math
import platform
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from tweetner import embeddings, metrics
from tweetner.config import ModelConfig, TrainConfig, to_json, write_json
from tweetner.data import Example
from tweetner.export import EXTRA, TweetPipeline, save_pipeline
from tweetner.features import Featurizer
from tweetner.model import TweetTagger
from tweetner.vocab import build_word_vocab, char_vocab, save_vocab

EVAL_BATCH = 512


def tune_threshold(probs: np.ndarray, labels: np.ndarray, groups: Sequence[np.ndarray]) -> tuple[float, float]:
    """Picks the relevance threshold that maximises the TPR/TNR F1 averaged over the case studies.

    Args:
        probs: [n] predicted relevance probabilities.
        labels: [n] gold labels 0/1.
        groups: one boolean mask [n] per case study.

    Returns:
        (threshold, averaged F1 at it). Ties go to the threshold closest to 0.5.
    """
    grid = np.linspace(0.005, 0.995, 199)
    f1s = []
    for g in groups:
        p, y = probs[g], labels[g]
        pos, neg = p[y == 1], p[y == 0]
        tpr = (pos[None, :] >= grid[:, None]).mean(1) if len(pos) else np.zeros_like(grid)
        tnr = (neg[None, :] < grid[:, None]).mean(1) if len(neg) else np.zeros_like(grid)
        f1s.append(np.where(tpr + tnr > 0, 2 * tpr * tnr / np.maximum(tpr + tnr, 1e-12), 0.0))
    mean = np.mean(f1s, axis=0)
    best = np.flatnonzero(mean >= mean.max() - 1e-12)
    i = best[np.argmin(np.abs(grid[best] - 0.5))]
    return float(grid[i]), float(mean[i])


class Trainer:
    """Trains one TweetTagger on a training set and selects it on a validation set.

    Args:
        train_ex: training examples.
        val_ex: validation examples (model selection and threshold tuning only).
        mcfg: model configuration (word_dim is replaced by a pretrained file's dimension).
        tcfg: training configuration; `tcfg.case` restricts scoring to one case study.
        log: progress printer.
    """

    def __init__(self, train_ex: Sequence[Example], val_ex: Sequence[Example], mcfg: ModelConfig, tcfg: TrainConfig,
                 log: Callable[..., None] = print):
        self.train_ex, self.val_ex, self.tcfg, self.log = list(train_ex), list(val_ex), tcfg, log
        keras.utils.set_random_seed(tcfg.seed)
        tf.config.experimental.enable_op_determinism()
        self.words = build_word_vocab((e.tokens for e in self.train_ex), tcfg.max_vocab, tcfg.min_count)
        self.chars = char_vocab()
        matrix, self.embedding_report = self._embeddings(mcfg)
        self.mcfg = mcfg = replace(mcfg, word_dim=int(matrix.shape[1]))
        log(f"vocabulary: {len(self.words)} words; embeddings: {self.embedding_report.summary()}")
        self.featurizer = Featurizer(self.words, self.chars, mcfg.max_word_len, mcfg.ngram_buckets)
        self.model = TweetTagger(mcfg, len(self.words), len(self.chars))
        self.model.build_weights(mcfg.max_word_len)
        self.model.word_embedding.embeddings.assign(matrix.astype("float32"))
        self.tag_index = {t: i for i, t in enumerate(mcfg.tags)}
        self.train_arrays = self._arrays(self.train_ex)
        self.val_arrays = self._arrays(self.val_ex)
        self.optimizer = keras.optimizers.Adam(tcfg.learning_rate, global_clipnorm=tcfg.clip_norm)
        self.rng = np.random.default_rng(tcfg.seed)
        self.noise = tf.random.Generator.from_seed(tcfg.seed)
        self.threshold = 0.5
        self.scores: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self._build_steps()

    # --- data ------------------------------------------------------------------------------------------------------
    def _embeddings(self, mcfg: ModelConfig) -> tuple[np.ndarray, Any]:
        source, t = self.tcfg.embeddings, self.tcfg
        sentences = [list(e.tokens) for e in self.train_ex]
        if source in ("word2vec", "fasttext"):
            return embeddings.train_in_domain(sentences, self.words, dim=mcfg.word_dim, method=source, seed=t.seed,
                                              epochs=t.embedding_epochs)
        if source == "random":
            matrix = embeddings.random_init(self.words, mcfg.word_dim, t.seed)
            return matrix, embeddings.EmbeddingReport("random", mcfg.word_dim, len(self.words), 0, 0, 0.0, format="random")
        counts = Counter(tok for s in sentences for tok in s)
        return embeddings.load_pretrained(source, self.words, seed=t.seed, counts=counts)

    def _arrays(self, examples: Sequence[Example]) -> dict[str, np.ndarray]:
        """Featurises examples with the same Featurizer the exported model uses."""
        f = {k: v.numpy() for k, v in self.featurizer(tf.constant([e.text for e in examples], tf.string)).items()}
        n, width = f["word_ids"].shape
        tags = np.zeros((n, width), np.int32)
        supervised = np.zeros(n, np.float32)
        mismatched = 0
        for i, e in enumerate(examples):
            if e.relevant and e.tags is not None:
                if len(e.tags) == f["lengths"][i]:
                    tags[i, : len(e.tags)] = [self.tag_index[t] for t in e.tags]
                    supervised[i] = 1.0
                else:  # cleaning changed the tokenisation of this row; keep its label, drop its tags
                    mismatched += 1
        if mismatched:
            self.log(f"warning: {mismatched} relevant rows tokenise differently after cleaning; their tags are not used")
        ngram_ids = f.get("ngram_ids", np.zeros((n, 1), np.int32))  # one dummy column when the wide part is off
        return {"word_ids": f["word_ids"], "char_ids": f["char_ids"], "ngram_ids": ngram_ids,
                "lengths": f["lengths"], "tags": tags,
                "labels": np.array([e.relevant for e in examples], np.float32), "supervised": supervised}

    def _batches(self, arrays: dict[str, np.ndarray], batch_size: int, shuffle: bool):
        """Yields length-bucketed batches trimmed to their longest tweet."""
        lengths = arrays["lengths"]
        if shuffle:  # sort by length with jitter, then shuffle the batch order
            order = np.argsort(lengths + self.rng.uniform(0, 3, len(lengths)), kind="stable")
        else:
            order = np.argsort(lengths, kind="stable")
        chunks = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
        if shuffle:
            self.rng.shuffle(chunks)
        for idx in chunks:
            t = max(int(lengths[idx].max()), 1)
            batch = {k: (v[idx, :t] if v.ndim >= 2 and k != "ngram_ids" else v[idx]) for k, v in arrays.items()}
            g = max(int((batch["ngram_ids"] > 0).sum(-1).max()), 1)
            batch["ngram_ids"] = batch["ngram_ids"][:, :g]
            c = max(int((batch["char_ids"] > 0).sum(-1).max()), 1)  # the batch's longest word, as the Featurizer does
            batch["char_ids"] = batch["char_ids"][:, :, :c]
            yield idx, batch

    # --- steps -----------------------------------------------------------------------------------------------------
    def _build_steps(self) -> None:
        model, cfg, opt, tcfg = self.model, self.mcfg, self.optimizer, self.tcfg
        sig = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None, None], tf.int32),
               tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.float32),
               tf.TensorSpec([None], tf.float32)]

        @tf.function(input_signature=[*sig, tf.TensorSpec([None, None], tf.int32)], jit_compile=False)
        def train_step(word_ids, char_ids, tags, labels, supervised, ngram_ids):
            if tcfg.word_dropout > 0:  # teach the [UNK] row: real words sometimes become unknown
                drop = (self.noise.uniform(tf.shape(word_ids)) < tcfg.word_dropout) & (word_ids > 1)
                word_ids = tf.where(drop, tf.ones_like(word_ids), word_ids)
            with tf.GradientTape() as tape:
                out = model({"word_ids": word_ids, "char_ids": char_ids, "ngram_ids": ngram_ids}, training=True)
                rel = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=out["relevance_logit"]))
                # Tags only count on relevant tweets (irrelevant ones carry none), averaged over those.
                per_tweet = model.tag_loss(out["emissions"], tags, out["lengths"])
                tag = tf.reduce_sum(per_tweet * supervised) / tf.maximum(tf.reduce_sum(supervised), 1.0)
                loss = cfg.relevance_weight * rel + cfg.tag_weight * tag
            variables = model.trainable_variables
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss, rel, tag

        @tf.function(input_signature=[*sig[:2], tf.TensorSpec([None, None], tf.int32)], jit_compile=False)
        def predict_step(word_ids, char_ids, ngram_ids):
            out = model({"word_ids": word_ids, "char_ids": char_ids, "ngram_ids": ngram_ids}, training=False)
            return tf.sigmoid(out["relevance_logit"]), model.decode(out["emissions"], out["lengths"])

        self.train_step, self.predict_step = train_step, predict_step

    # --- loop ------------------------------------------------------------------------------------------------------
    def evaluate(self) -> tuple[float, dict[str, Any], float]:
        """Scores the current weights on validation: (threshold, competition scores, selection score)."""
        a = self.val_arrays
        n = len(a["lengths"])
        probs = np.zeros(n, np.float32)
        tag_ids: list[np.ndarray] = [np.zeros(0, np.int32)] * n
        for idx, b in self._batches(a, EVAL_BATCH, shuffle=False):
            p, t = self.predict_step(b["word_ids"], b["char_ids"], b["ngram_ids"])
            probs[idx] = p.numpy()
            t = t.numpy()
            for row, i in enumerate(idx):
                tag_ids[i] = t[row, : a["lengths"][i]]
        cases = [self.tcfg.case] if self.tcfg.case else None
        studies = metrics.competition_scores(self.val_ex, [0] * n, [None] * n, cases=cases)["case_studies"]
        groups = [np.array([s == "all" or s in e.cases for e in self.val_ex]) for s in studies]
        threshold, _ = tune_threshold(probs, a["labels"], groups)
        labels = (probs >= threshold).astype(int).tolist()
        tags = [[self.mcfg.tags[j] for j in t] for t in tag_ids]
        scores = metrics.competition_scores(self.val_ex, labels, tags, cases=cases)
        avg = scores["average"]
        selection = 0.5 * (avg["relevance"]["f1"] + avg["ner"]["headline"]["entity"]["micro"]["f1"])
        return threshold, scores, selection

    def fit(self, checkpoint: Path | None = None, resume: bool = False) -> dict[str, Any]:
        """Trains with early stopping on the validation selection score; restores the best epoch's weights.

        Args:
            checkpoint: folder for an end-of-epoch checkpoint (weights, best weights, optimizer and loop state),
                replaced atomically after every epoch so a kill at any moment leaves the last complete one.
            resume: continue from the checkpoint in `checkpoint` when there is one.
        """
        t = self.tcfg
        state = {"epoch": 0, "best": -1.0, "stale": 0}
        best_weights = None
        if resume and checkpoint is not None and (Path(checkpoint) / "state.json").is_file():
            state, best_weights = self._restore(Path(checkpoint))
            self.log(f"resuming after epoch {state['epoch']} from {checkpoint}")
        n_batches = math.ceil(len(self.train_ex) / t.batch_size)
        tty = sys.stderr.isatty()
        done = state["stale"] > t.patience
        for epoch in range(state["epoch"] + 1, t.epochs + 1):
            if done:
                break
            start, total = time.time(), np.zeros(3)
            for k, (_, b) in enumerate(self._batches(self.train_arrays, t.batch_size, shuffle=True), 1):
                total += [float(x) for x in self.train_step(b["word_ids"], b["char_ids"], b["tags"], b["labels"],
                                                            b["supervised"], b["ngram_ids"])]
                if tty and k % 20 == 0:
                    print(f"\r  epoch {epoch} batch {k}/{n_batches} loss {total[0] / k:.3f}", end="", file=sys.stderr)
            if tty:
                print("\r", end="", file=sys.stderr)
            train_time = time.time() - start
            threshold, scores, selection = self.evaluate()
            avg = scores["average"]
            row = {"epoch": epoch, "loss": total[0] / n_batches, "relevance_loss": total[1] / n_batches,
                   "tag_loss": total[2] / n_batches, "train_seconds": round(train_time, 2), "threshold": threshold,
                   "val_relevance_f1": avg["relevance"]["f1"],
                   "val_entity_f1": avg["ner"]["headline"]["entity"]["micro"]["f1"], "val_selection": selection}
            self.history.append(row)
            improved = selection > state["best"] + 1e-6
            self.log(f"epoch {epoch:2d}/{t.epochs}  loss {row['loss']:.3f}  val relevance F1 {row['val_relevance_f1']:.4f}"
                     f"  entity F1 {row['val_entity_f1']:.4f}  ({train_time:.1f}s){'  *' if improved else ''}")
            state["epoch"] = epoch
            if improved:
                state["best"], state["stale"], best_weights = selection, 0, self.model.get_weights()
                self.threshold, self.scores = threshold, scores
            else:
                state["stale"] += 1
                done = state["stale"] > t.patience
                if done:
                    self.log(f"early stop: no improvement for {state['stale']} epochs")
            if checkpoint is not None:
                self._checkpoint(Path(checkpoint), state, best_weights)
        self.model.set_weights(best_weights)
        return {"scores": self.scores, "threshold": self.threshold, "history": self.history}

    def _checkpoint(self, directory: Path, state: dict[str, Any], best_weights: list[np.ndarray]) -> None:
        """Replaces the checkpoint folder atomically with the state at the end of an epoch."""
        from tweetner.export import write_atomically

        def fill(tmp: Path) -> None:
            np.savez(tmp / "weights.npz", *self.model.get_weights())
            np.savez(tmp / "best.npz", *best_weights)
            np.savez(tmp / "optimizer.npz", *[v.numpy() for v in self.optimizer.variables])
            np.save(tmp / "noise.npy", self.noise.state.numpy())
            save_vocab(tmp / "words.txt", self.words)
            write_json(tmp / "state.json", {
                **state, "history": self.history, "threshold": self.threshold, "scores": self.scores,
                "rng": self.rng.bit_generator.state, "model": to_json(self.mcfg), "train": to_json(self.tcfg),
            })

        write_atomically(directory, fill)

    def _restore(self, directory: Path) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Loads a checkpoint written by `_checkpoint`; refuses one made with other settings or data."""
        from tweetner.config import read_json
        from tweetner.vocab import load_vocab

        saved = read_json(directory / "state.json")
        # How long to train may change on resume; everything that shapes the model or the data may not.
        free = ("epochs", "patience")
        same_train = {k: v for k, v in saved["train"].items() if k not in free} == {
            k: v for k, v in to_json(self.tcfg).items() if k not in free}
        if saved["model"] != to_json(self.mcfg) or not same_train:
            raise ValueError(f"{directory}: checkpoint was made with other settings; start afresh without --resume "
                             "or use the same options")
        if load_vocab(directory / "words.txt") != self.words:
            raise ValueError(f"{directory}: checkpoint was made on other training data; start afresh without --resume")

        def arrays(name: str) -> list[np.ndarray]:
            with np.load(directory / name, allow_pickle=False) as z:
                return [z[f"arr_{i}"] for i in range(len(z.files))]

        self.model.set_weights(arrays("weights.npz"))
        self.optimizer.build(self.model.trainable_variables)
        for var, value in zip(self.optimizer.variables, arrays("optimizer.npz")):
            var.assign(value)
        self.noise.reset(np.load(directory / "noise.npy", allow_pickle=False))
        self.rng.bit_generator.state = saved["rng"]
        self.history, self.threshold, self.scores = saved["history"], saved["threshold"], saved["scores"]
        state = {k: saved[k] for k in ("epoch", "best", "stale")}
        return state, arrays("best.npz")

    # --- artifacts -------------------------------------------------------------------------------------------------
    def pipeline(self) -> TweetPipeline:
        """The raw-string pipeline around the current weights (what gets exported)."""
        return TweetPipeline(self.featurizer, self.model, self.mcfg.tags, self.threshold)

    def save(self, directory: Path, data_info: dict[str, Any]) -> None:
        """Writes the SavedModel and, under assets.extra/tweetner/, everything needed to read or rebuild it."""
        directory = Path(directory)
        save_pipeline(self.pipeline(), directory)
        extra = directory / EXTRA
        extra.mkdir(parents=True)
        save_vocab(extra / "words.txt", self.words)
        save_vocab(extra / "chars.txt", self.chars)
        save_vocab(extra / "tags.txt", list(self.mcfg.tags))
        write_json(extra / "config.json", {
            "model": to_json(self.mcfg), "train": to_json(self.tcfg), "threshold": self.threshold,
            "num_words": len(self.words), "num_chars": len(self.chars), "data": data_info,
            "embeddings": self.embedding_report.to_dict(), "versions": versions(),
        })
        write_json(extra / "validation.json", {"scores": self.scores, "history": self.history,
                                               "val_rows": len(self.val_ex), "train_rows": len(self.train_ex)})
        (extra / "MODEL_CARD.md").write_text(self.model_card(directory, data_info), encoding="utf-8")

    def model_card(self, directory: Path, data_info: dict[str, Any]) -> str:
        """A short human-readable card: what was trained on what, how, how well, and how big it is."""
        size = sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file())
        study = self.tcfg.case or "A, B, C (joint model)"
        lines = [
            f"# tweetner model ({'case study ' + self.tcfg.case if self.tcfg.case else 'joint'})", "",
            f"- Command: `{data_info.get('command', 'python -m tweetner.train')}`",
            f"- Data: `{data_info.get('path')}` ({data_info.get('rows')} rows), sha256 `{data_info.get('sha256')}`",
            f"- Case studies: {study}; {len(self.train_ex)} training and {len(self.val_ex)} validation tweets "
            "(identical texts kept on one side)",
            f"- Embeddings: {self.embedding_report.summary()}; vocabulary {len(self.words)} words",
            f"- Network: char CNN {self.mcfg.char_filters}x{self.mcfg.char_dim} (on: {self.mcfg.use_chars}), "
            f"BiLSTM {self.mcfg.lstm_units} per direction, CRF: {self.mcfg.use_crf}",
            f"- Relevance threshold (tuned on validation): {self.threshold:.3f}",
            f"- Size on disk: {size / 1e6:.1f} MB", "",
            "## Validation scores (the split used for early stopping and the threshold, so slightly optimistic)", "",
            "| case study | relevance TPR | TNR | F1 | entity micro F1 | VUL F1 | token micro F1 |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        rows = [*self.scores.get("studies", {}).items(), ("average", self.scores.get("average"))]
        for name, s in rows:
            if not s:
                continue
            ent, tok = s["ner"]["headline"]["entity"], s["ner"]["headline"]["token"]
            vul = ent["per_type"].get("VUL", {}).get("f1", float("nan"))
            lines.append(f"| {name} | {s['relevance']['tpr']:.4f} | {s['relevance']['tnr']:.4f} | "
                         f"{s['relevance']['f1']:.4f} | {ent['micro']['f1']:.4f} | {vul:.4f} | "
                         f"{tok['micro']['f1']:.4f} |")
        versions_ = versions()
        lines += ["", "Trained with " + ", ".join(f"{k} {v}" for k, v in versions_.items()) + "."]
        return "\n".join(lines) + "\n"


def versions() -> dict[str, str]:
    """Package versions recorded with every model (reproducibility)."""
    import gensim
    import tweetner

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "gensim": gensim.__version__, "tweetner": tweetner.__version__,
            "machine": platform.machine()}
