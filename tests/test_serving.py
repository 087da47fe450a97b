"""The prediction path starts TensorFlow without Keras and still loads and runs an exported model."""
from __future__ import annotations

import subprocess
import sys

PROBE = r"""
import sys
from tweetner.predict import Predictor
p = Predictor(sys.argv[1])
out = p.predict(["exploit in acme router 2.1", ""])
assert len(out) == 2 and out[1]["tokens"] == [] and len(out[0]["tags"]) == 5
assert "keras" not in sys.modules and "sklearn" not in sys.modules, sorted(m for m in sys.modules if "keras" in m)[:5]
import keras  # Keras still imports normally afterwards
print("ok")
"""


def test_predict_loads_without_keras(tiny_model):
    r = subprocess.run([sys.executable, "-c", PROBE, str(tiny_model)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("ok")
