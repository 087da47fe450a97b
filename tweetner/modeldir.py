"""Finding and checking exported model folders, without importing TensorFlow.

A models root (like saved_models/) holds one folder per model (`tweetner`, and `tweetner_A`, `tweetner_B`,
`tweetner_C` for per-case models), each holding numbered versions in the layout TF Serving loads.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

DEFAULT_NAME = "tweetner"
REQUIRED = (
    "saved_model.pb",
    "variables/variables.index",
    "assets.extra/tweetner/config.json",
    "assets.extra/tweetner/words.txt",
    "assets.extra/tweetner/tags.txt",
)


class ModelDirError(ValueError):
    """A model folder that is missing, incomplete or inconsistent; the message names the folder and the problem."""


def default_root() -> Path:
    """$TWEETNER_MODEL, else the saved_models/ folder beside the package (the shipped model)."""
    env = os.environ.get("TWEETNER_MODEL")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "saved_models"


def _versions(folder: Path) -> list[Path]:
    found = [p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"\d+", p.name)]
    return sorted(found, key=lambda p: int(p.name))


def resolve_model(path: str | os.PathLike | None, case: str | None = None) -> Path:
    """Turns a --model/--case choice into a checked SavedModel version folder.

    Args:
        path: a version folder, a model folder with numbered versions (the newest is used), or a models root.
            None means `default_root()`.
        case: "A", "B" or "C" to pick the per-case model NAME_<case> of a models root.

    Raises:
        ModelDirError: when nothing usable is found, with a message naming the folder and the problem.
    """
    root = Path(path) if path is not None else default_root()
    if not root.exists():
        raise ModelDirError(f"{root}: no such model folder (train one with python -m tweetner.train, or pass --model)")
    if (root / "saved_model.pb").exists():
        if case is not None:
            raise ModelDirError(f"{root}: is a single model version; --case needs a folder of per-case models")
        return check_model(root)
    if _versions(root):
        if case is not None:
            sibling = root.parent / f"{root.name}_{case}"
            if not sibling.is_dir():
                raise ModelDirError(f"{root.parent}: no per-case model {sibling.name} for --case {case}")
            root = sibling
        return check_model(_versions(root)[-1])
    name = DEFAULT_NAME if case is None else f"{DEFAULT_NAME}_{case}"
    if (root / name).is_dir() and _versions(root / name):
        return check_model(_versions(root / name)[-1])
    if case is not None:
        raise ModelDirError(f"{root}: no per-case model {name} for --case {case}")
    raise ModelDirError(f"{root}: no model found (expected {name}/<version>/saved_model.pb)")


def check_model(version_dir: Path) -> Path:
    """Refuses a version folder whose files are incomplete or inconsistent."""
    missing = [f for f in REQUIRED if not (version_dir / f).is_file()]
    if missing:
        raise ModelDirError(f"{version_dir}: incomplete model, missing {', '.join(missing)}")
    extra = version_dir / "assets.extra" / "tweetner"
    try:
        config = json.loads((extra / "config.json").read_text(encoding="utf-8"))
        words = (extra / "words.txt").read_text(encoding="utf-8").split("\n")[:-1]
        tags = (extra / "tags.txt").read_text(encoding="utf-8").split("\n")[:-1]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelDirError(f"{version_dir}: unreadable model metadata ({e})") from None
    if not isinstance(config, dict) or "model" not in config or "num_words" not in config:
        raise ModelDirError(f"{version_dir}: config.json lacks the model description")
    if len(words) != config["num_words"]:
        raise ModelDirError(
            f"{version_dir}: inconsistent model, words.txt has {len(words)} entries but config.json says "
            f"{config['num_words']}"
        )
    if tags != list(config["model"].get("tags", [])):
        raise ModelDirError(f"{version_dir}: inconsistent model, tags.txt differs from config.json")
    return version_dir
