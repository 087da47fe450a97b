"""Loading an exported SavedModel for prediction, with the lightest TensorFlow start-up we can get.

Prediction needs TensorFlow's core only: the SavedModel is a plain tf.Module whose signature does everything.
`import tensorflow` eagerly imports Keras (and, through Keras, scikit-learn) to register Keras optimizers for
SavedModels that hold them; ours holds none, so the prediction path skips that import, which saves about a
third of TensorFlow's start-up time.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

SIGNATURE = "serving_default"
_EAGER_KERAS = "keras.src.optimizers"  # what tensorflow/__init__.py imports eagerly, inside a try/except ImportError


def import_tensorflow() -> Any:
    """Imports TensorFlow without its eager Keras import (a no-op when TensorFlow is already imported).

    Keras stays importable afterwards: the block is lifted as soon as TensorFlow is in.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    blocked = _EAGER_KERAS not in sys.modules
    if blocked:
        sys.modules[_EAGER_KERAS] = None  # makes that one import raise ImportError, which TensorFlow tolerates
    try:
        import tensorflow as tf
    finally:
        if blocked and sys.modules.get(_EAGER_KERAS, 0) is None:
            del sys.modules[_EAGER_KERAS]
    return tf


def load_serving(directory: str | Path) -> Callable[[Any], dict[str, Any]]:
    """Loads an exported SavedModel and returns its serving function (raw strings in, dense tensors out)."""
    tf = import_tensorflow()
    loaded = tf.saved_model.load(str(directory))
    fn = loaded.signatures[SIGNATURE]

    def serve(tweets: Any) -> dict[str, Any]:
        return fn(tweets=tweets)

    serve.loaded = loaded  # keep the trackable (and its tables) alive as long as the function
    return serve
