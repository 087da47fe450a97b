"""Keeps the command lines quiet: TensorFlow's native (C++) start-up notices go to /dev/null.

TensorFlow 2.21 prints oneDNN and absl notices straight to file descriptor 2 from C++, before and regardless of
TF_CPP_MIN_LOG_LEVEL. The CLIs point descriptor 2 at /dev/null and give Python's `sys.stderr` a duplicate of the
real one, so our own messages, warnings and errors still reach the user. Set TF_CPP_MIN_LOG_LEVEL yourself to see
TensorFlow's native logs.
"""
from __future__ import annotations

import os
import sys


def silence_native_stderr() -> None:
    """Redirects native writes to stderr to /dev/null, keeping Python's stderr on the terminal (once per process)."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or getattr(silence_native_stderr, "done", False):
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        sys.stderr.flush()
        real = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = os.fdopen(real, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                               errors="backslashreplace")
    except (OSError, ValueError, AttributeError):  # no real descriptor 2 (embedded interpreters): stay as we are
        return
    silence_native_stderr.done = True
