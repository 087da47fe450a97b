"""`python -m tweetner.train`: train the joint model (or one per case study) and export it as a SavedModel.

Data path: CSV -> validated examples -> grouped, stratified validation split -> vocabularies and embeddings ->
featurizer ids -> network trained with early stopping on the validation competition score -> relevance threshold
tuned on validation -> SavedModel plus config, vocabularies, weights and validation scores.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from tweetner import data
from tweetner.config import EMBEDDING_SOURCES, ModelConfig, TrainConfig

DEFAULT_OUT = Path("runs")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tweetner.train",
        description=(
            "Train the tweetner multi-task model (relevance + IOB entity tags) on a competition-format CSV and "
            "export it as a TF Serving SavedModel under OUT/NAME/VERSION/. Without --data it trains on the small "
            "synthetic sample bundled with the package (about a minute)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d, m = TrainConfig(), ModelConfig()
    p.add_argument("--data", type=Path, default=None,
                   help="training CSV (columns clean_tweet, class|relevant, entities[, A, B, C]); "
                        "default: the bundled synthetic sample")
    p.add_argument("--per-case", action="store_true",
                   help="train one model per case study (A, B, C) on the tweets flagged for it, instead of one joint model")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="root folder of the exported models (use saved_models to replace the shipped ones)")
    p.add_argument("--name", default="tweetner",
                   help="model name; per-case models are NAME_A, NAME_B, NAME_C")
    p.add_argument("--embeddings", default=d.embeddings,
                   help=f"word vectors: a pretrained file (GloVe text, word2vec text or binary), or one of "
                        f"{', '.join(EMBEDDING_SOURCES)} to train in-domain vectors on the training tweets / "
                        f"start from random ones")
    g = p.add_argument_group("training")
    g.add_argument("--val-fraction", type=float, default=d.val_fraction, help="share of distinct texts held out for validation")
    g.add_argument("--epochs", type=int, default=d.epochs, help="most epochs (early stopping usually ends sooner)")
    g.add_argument("--patience", type=int, default=d.patience, help="epochs without validation improvement before stopping")
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--learning-rate", type=float, default=d.learning_rate)
    g.add_argument("--seed", type=int, default=d.seed, help="seed of the split, the initialisation and the batch order")
    g.add_argument("--max-vocab", type=int, default=d.max_vocab, help="word vocabulary cap (stored in the model)")
    g.add_argument("--word-dropout", type=float, default=d.word_dropout,
                   help="probability of replacing a training word by [UNK], so unseen words are handled")
    g = p.add_argument_group("model sizes")
    g.add_argument("--word-dim", type=int, default=m.word_dim, help="word vector size (a pretrained file sets its own)")
    g.add_argument("--char-dim", type=int, default=m.char_dim)
    g.add_argument("--char-filters", type=int, default=m.char_filters)
    g.add_argument("--lstm-units", type=int, default=m.lstm_units, help="units per direction of the BiLSTM")
    g.add_argument("--dropout", type=float, default=m.dropout)
    g.add_argument("--ngram-buckets", type=int, default=m.ngram_buckets,
                   help="hashed word and word-bigram weights added to the relevance head (0 = off); one float "
                        "each in the model")
    g.add_argument("--no-chars", action="store_true", help="ablation: no character CNN")
    g.add_argument("--no-crf", action="store_true", help="ablation: softmax tags instead of a CRF")
    g.add_argument("--relevance-weight", type=float, default=m.relevance_weight, help="weight of the relevance loss")
    g.add_argument("--tag-weight", type=float, default=m.tag_weight, help="weight of the CRF tag loss")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its last end-of-epoch checkpoint (OUT/NAME/.checkpoint), "
                        "with the same data and options")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final summary")
    return p


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        mcfg = ModelConfig(
            word_dim=args.word_dim, char_dim=args.char_dim, char_filters=args.char_filters,
            lstm_units=args.lstm_units, dropout=args.dropout, use_chars=not args.no_chars, use_crf=not args.no_crf,
            relevance_weight=args.relevance_weight, tag_weight=args.tag_weight, ngram_buckets=args.ngram_buckets,
        )
        tcfg = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, patience=args.patience,
            seed=args.seed, val_fraction=args.val_fraction, max_vocab=args.max_vocab, word_dropout=args.word_dropout,
            embeddings=args.embeddings,
        )
    except ValueError as e:
        return _error(str(e))
    if args.embeddings not in EMBEDDING_SOURCES and not Path(args.embeddings).is_file():
        return _error(f"--embeddings {args.embeddings}: no such file (or use one of {', '.join(EMBEDDING_SOURCES)})")
    path = args.data or data.sample_path()
    try:
        examples, report = data.load_csv(path, repair_iob=True)
    except (data.DataError, OSError) as e:
        return _error(str(e))
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    log(f"loaded {path}\n{report.summary()}")
    if args.per_case and not data.has_cases(examples):
        return _error(f"{path}: --per-case needs the case-study columns A, B, C, which this file does not have")
    if len(examples) < 20:
        return _error(f"{path}: only {len(examples)} usable rows; at least 20 are needed to train and validate")
    try:  # fail before training, not after it, when the models cannot be written (bad data never creates it)
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return _error(f"--out {args.out}: cannot create the folder ({e.strerror or e})")

    from tweetner.quiet import silence_native_stderr

    silence_native_stderr()
    from tweetner.split import split_train_val

    train_ex, val_ex = split_train_val(examples, tcfg.val_fraction, tcfg.seed)
    log(f"split: {len(train_ex)} training rows, {len(val_ex)} validation rows (identical texts kept on one side)")
    command = " ".join(["python -m tweetner.train", *(argv if argv is not None else sys.argv[1:])])
    data_info = {"path": str(path), "sha256": _sha256(path), "rows": len(examples), "command": command}
    targets = list(data.CASES) if args.per_case else [None]
    results = {}
    for case in targets:
        name = args.name if case is None else f"{args.name}_{case}"
        tr = train_ex if case is None else data.select_case(train_ex, case)
        va = val_ex if case is None else data.select_case(val_ex, case)
        if not tr or not va or len({e.relevant for e in tr}) < 2:
            return _error(f"{path}: case study {case} has too few tweets ({len(tr)} training, {len(va)} validation) "
                          "with both labels to train a model")
        try:
            results[name] = train_and_export(tr, va, mcfg, replace(tcfg, case=case), args.out / name, data_info, log,
                                             resume=args.resume)
        except ValueError as e:  # e.g. an unreadable embeddings file, a checkpoint made with other options
            return _error(str(e))
        except OSError as e:  # e.g. an output folder that cannot be written
            return _error(f"{e.filename or args.out}: {e.strerror or e}")
        except KeyboardInterrupt:
            print(f"\ninterrupted: the last complete epoch is checkpointed in {args.out / name / '.checkpoint'}; "
                  "run the same command with --resume to continue", file=sys.stderr)
            return 130
    for name, r in results.items():
        s = r["scores"]["average"]
        print(f"{name}: relevance F1 {s['relevance']['f1']:.4f}  entity micro F1 "
              f"{s['ner']['headline']['entity']['micro']['f1']:.4f}  -> {r['directory']}")
    return 0


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def train_and_export(train_ex, val_ex, mcfg: ModelConfig, tcfg: TrainConfig, model_root: Path, data_info: dict,
                     log=print, resume: bool = False) -> dict[str, Any]:
    """Trains one model on `train_ex`, selects it on `val_ex` and exports a new version under `model_root`.

    An end-of-epoch checkpoint lives in `model_root/.checkpoint` (hidden: TF Serving ignores it) until the export
    is complete; `resume` continues from it.

    Returns:
        {"directory": the version folder, "scores": validation competition scores, "threshold": float, ...}.
    """
    from tweetner.export import next_version, write_atomically
    from tweetner.trainer import Trainer

    trainer = Trainer(train_ex, val_ex, mcfg, tcfg, log=log)
    checkpoint = model_root / ".checkpoint"
    result = trainer.fit(checkpoint=checkpoint, resume=resume)
    version = next_version(model_root)
    directory = write_atomically(model_root / str(version), lambda tmp: trainer.save(tmp, data_info))
    shutil.rmtree(checkpoint, ignore_errors=True)
    log(f"exported {directory}")
    return {**result, "directory": str(directory)}


if __name__ == "__main__":
    sys.exit(main())
