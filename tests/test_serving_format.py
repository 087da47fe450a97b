"""The TF Serving deployment without Docker: the exported signature as the model server sees it, the REST format
the client speaks, and the deploy/ files.

The emulator below runs the SavedModel the way tensorflow_model_server does -- the C++/TF1 loader (graph + session,
variables restored through the MetaGraph's saver), the `serving_default` tensors fed and fetched by name -- and
answers the REST predict API as TF Serving does: row format (each instance one element of the `tweets` input, one
object per instance with every output, batch dimension removed, bytes as UTF-8 strings) or columnar format.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tweetner import client, data, modeldir, predict, train
from tweetner.text import tokenize

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
OUTPUT_SPECS = {  # output name -> (dtype, shape) as saved_model_cli prints them
    "lengths": ("DT_INT32", "(-1)"),
    "probability": ("DT_FLOAT", "(-1)"),
    "relevant": ("DT_INT32", "(-1)"),
    "tags": ("DT_STRING", "(-1, -1)"),
    "tokens": ("DT_STRING", "(-1, -1)"),
}


# --- a TF Serving stand-in ------------------------------------------------------------------------------------------

class SessionSignature:
    """The `serving_default` signature of a SavedModel loaded as the model server loads it (graph + session)."""

    def __init__(self, model_dir: Path):
        import tensorflow as tf

        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], str(model_dir))
        signature = meta.signature_def["serving_default"]
        assert signature.method_name == "tensorflow/serving/predict"  # what the REST predict API requires
        self.inputs = {k: v.name for k, v in signature.inputs.items()}
        self.outputs = {k: v.name for k, v in signature.outputs.items()}

    def __call__(self, tweets: list[bytes]):
        import numpy as np

        return self.session.run(self.outputs, {self.inputs["tweets"]: np.array(tweets, dtype=object).reshape(-1)})


def _value(v) -> bytes:
    """A JSON value fed to a DT_STRING input: a string, or {"b64": ...} for raw bytes."""
    if isinstance(v, dict) and set(v) == {"b64"}:
        return base64.b64decode(v["b64"])
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {type(v).__name__}")
    return v.encode("utf-8")


def _json_tensor(array) -> list:
    """A numpy output as TF Serving writes it: nested lists, strings decoded as UTF-8, numbers as JSON numbers."""
    if array.dtype == object:
        return [_json_tensor(a) for a in array] if array.ndim > 1 else [b.decode("utf-8") for b in array]
    return array.tolist()


def serve_rest(signature: SessionSignature, model: str, path: str, body: bytes) -> tuple[int, dict]:
    """One REST predict call: (HTTP status, JSON answer)."""
    import tensorflow as tf

    m = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/(\d+))?:predict", path)
    if not m:
        return 404, {"error": "Malformed request: POST " + path}
    if m[1] != model:
        return 404, {"error": f"Servable not found for request: Latest({m[1]})"}
    try:
        request = json.loads(body)
        name = request.get("signature_name", "serving_default")
        if name != "serving_default":
            return 400, {"error": f'Serving signature name: "{name}" not found in signature def'}
        if "instances" in request:
            # Row format: an instance is the bare value (single-input signature) or {"tweets": value}.
            rows = [i["tweets"] if isinstance(i, dict) and "tweets" in i else i for i in request["instances"]]
            tweets, columnar = [_value(v) for v in rows], False
        else:
            inputs = request["inputs"]
            tweets, columnar = [_value(v) for v in (inputs["tweets"] if isinstance(inputs, dict) else inputs)], True
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        return 400, {"error": f"JSON Parse error: {e}"}
    try:
        out = signature(tweets)
    except tf.errors.OpError as e:
        return 400 if isinstance(e, (tf.errors.FailedPreconditionError, tf.errors.InvalidArgumentError)) else 500, \
            {"error": e.message}
    listed = {k: _json_tensor(v) for k, v in out.items()}
    if columnar:
        return 200, {"outputs": listed}
    return 200, {"predictions": [{k: v[i] for k, v in listed.items()} for i in range(len(tweets))]}


class EmulatedServing:
    """An HTTP server on 127.0.0.1 (ephemeral port) answering the REST predict API for one model."""

    def __init__(self, model_dir: Path, model: str = "tweetner"):
        self.signature = signature = SessionSignature(model_dir)
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.bodies.append(json.loads(body))
                status, answer = serve_rest(signature, model, self.path, body)
                raw = json.dumps(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def serving(tiny_model):
    s = EmulatedServing(tiny_model)
    yield s
    s.close()


# Lines written for these tests: the awkward cases the predict CLI promises to handle.
LINES = [
    b"CVE-2031-4242 lets attackers take over the Fooware 3.2 admin console",
    b"",
    b"   \t  ",
    "Ünïcödé café: patch für Fooware 🚀 now, 脆弱性 fixed".encode("utf-8"),
    b" ".join(b"exploit%d" % i for i in range(3000)),
    b"FooCorp ships Barware 1.0.7 to fix a buffer overflow\r",
    b"invalid utf-8 \xff\xfe here",
    b"nul \x00 and vertical \x0b tab",
    b"the last line has no newline",
]


BATCH = 3  # tweets per request/batch: several requests for the lines above


@pytest.fixture(scope="module")
def tweets_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("serving") / "tweets.txt"
    path.write_bytes(b"\n".join(LINES))
    return path


@pytest.fixture(scope="module")
def predicted(tiny_model, tweets_file):
    """Output of `python -m tweetner.predict` (in process) on the test lines, per option set.

    Both CLIs group lines into batches the same way, and the same batch size is used on both sides: a tweet padded
    next to a longer one can come out a float32 rounding step different, which the 6 decimals of jsonl may show.
    """
    results = {}
    for key, extra in {"tsv": [], "all-tags": ["--all-tags"], "jsonl": ["--format", "jsonl"]}.items():
        out = tweets_file.with_name(f"predict-{key}.out")
        argv = [str(tweets_file), str(out), "--model", str(tiny_model), "--batch-size", str(BATCH), "-q", *extra]
        assert predict.main(argv) == 0
        results[key] = out.read_bytes()
    return results


# --- the REST round trip --------------------------------------------------------------------------------------------

def test_emulated_server_answers_the_client_request(serving):
    tweets = ["CVE-2019-0708 in Windows", ""]
    status, answer = serve_rest(serving.signature, "tweetner", "/v1/models/tweetner:predict",
                                json.dumps(client.build_request(tweets)).encode())
    assert status == 200, answer
    rows = answer["predictions"]
    assert len(rows) == 2 and all(set(r) == set(OUTPUT_SPECS) for r in rows)
    n = len(tokenize(tweets[0]))
    assert rows[0]["lengths"] == n and rows[1]["lengths"] == 0
    assert rows[0]["tokens"] == tokenize(tweets[0])
    assert rows[1]["tokens"] == [""] * n and rows[1]["tags"] == [""] * n  # padded with "" to the longest tweet
    assert set(rows[0]["tags"]) <= set(data.TAGS)
    assert isinstance(rows[0]["probability"], float) and rows[0]["relevant"] in (0, 1)


@pytest.mark.parametrize("key,extra", [("tsv", []), ("all-tags", ["--all-tags"]), ("jsonl", ["--format", "jsonl"]),
                                       ("jsonl", ["--format", "jsonl", "--columnar"])],
                         ids=["tsv", "all-tags", "jsonl", "jsonl-columnar"])
def test_client_output_equals_predict(serving, tweets_file, predicted, tmp_path, capsys, key, extra):
    out = tmp_path / "client.out"
    before = len(serving.bodies)
    rc = client.main([str(tweets_file), str(out), "--url", serving.url, "--batch-size", str(BATCH), "-q", *extra])
    assert rc == 0, capsys.readouterr().err
    assert out.read_bytes() == predicted[key]
    assert out.read_bytes().count(b"\n") == len(LINES)
    sent = serving.bodies[before:]
    assert sum(len(b["inputs"]["tweets"] if "--columnar" in extra else b["instances"]) for b in sent) == len(LINES)
    assert all(b["signature_name"] == "serving_default" for b in sent)


def test_client_cli_as_a_program(serving, tweets_file, predicted, tmp_path):
    out = tmp_path / "client.tsv"
    proc = subprocess.run([sys.executable, "-m", "tweetner.client", str(tweets_file), str(out), "--url", serving.url,
                           "--batch-size", str(BATCH)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == predicted["tsv"]
    assert f"{len(LINES)} tweets predicted" in proc.stderr


def test_unknown_model_is_a_one_line_error(serving, tweets_file, tmp_path, capsys):
    rc = client.main([str(tweets_file), str(tmp_path / "o.tsv"), "--url", serving.url, "--model", "tweetner_Z"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "HTTP 404" in err and "Servable not found for request: Latest(tweetner_Z)" in err


# --- the signature as saved_model_cli shows and runs it -------------------------------------------------------------

def saved_model_cli(*args: str) -> subprocess.CompletedProcess:
    """The `saved_model_cli` program (its console script runs this module) with this interpreter."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_saved_model_cli_show_lists_the_string_input(tiny_model):
    proc = saved_model_cli("show", "--dir", str(tiny_model), "--tag_set", "serve", "--signature_def",
                           "serving_default")
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    assert re.search(r"inputs\['tweets'\] tensor_info:\s+dtype: DT_STRING\s+shape: \(-1\)", text), text
    assert text.count("tensor_info:") == 1 + len(OUTPUT_SPECS)  # exactly one input
    for name, (dtype, shape) in OUTPUT_SPECS.items():
        assert re.search(rf"outputs\['{name}'\] tensor_info:\s+dtype: {dtype}\s+shape: {re.escape(shape)}", text), name
    assert "Method name is: tensorflow/serving/predict" in text


def test_saved_model_cli_run_on_raw_strings(tiny_model):
    tweets = ["CVE-2019-0708 in Windows", ""]
    proc = saved_model_cli("run", "--dir", str(tiny_model), "--tag_set", "serve", "--signature_def",
                           "serving_default", "--input_exprs", f"tweets={json.dumps(tweets)}")
    tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
    assert proc.returncode == 0, f"the model server's loader cannot run the signature: {tail}"
    text = proc.stdout
    lengths = [len(tokenize(t)) for t in tweets]
    assert re.search(rf"Result for output key lengths:\s+\[{lengths[0]} {lengths[1]}\]", text), text
    for token in tokenize(tweets[0]):
        assert f"b'{token}'" in text
    for name in OUTPUT_SPECS:
        assert f"Result for output key {name}:" in text


# --- deploy/ ------------------------------------------------------------------------------------------------------

def parse_models_config(text: str) -> list[dict[str, str]]:
    """The `config { key: "value" ... }` entries of a ModelServerConfig text file (the subset deploy/ uses)."""
    text = re.sub(r"#[^\n]*", "", text)
    assert re.fullmatch(r"\s*model_config_list\s*\{.*\}\s*", text, re.S), "not a model_config_list"
    entries = re.findall(r"\bconfig\s*\{([^{}]*)\}", text)
    return [dict(re.findall(r'(\w+)\s*:\s*"([^"]*)"', e)) for e in entries]


def trainer_model_names() -> set[str]:
    """The model folders `python -m tweetner.train` writes with its default --name (joint and --per-case)."""
    name = train.build_parser().get_default("name")
    assert name == modeldir.DEFAULT_NAME
    return {name, *(f"{name}_{case}" for case in data.CASES)}


def test_models_config_lists_exactly_the_trainer_models(tiny_model_root):
    entries = parse_models_config((DEPLOY / "models.config").read_text(encoding="utf-8"))
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)) and set(names) == trainer_model_names()
    for e in entries:
        assert e == {"name": e["name"], "base_path": f"/models/{e['name']}", "model_platform": "tensorflow"}
    # The trainer's output root has exactly this layout: <root>/<name>/<numbered version>/saved_model.pb.
    joint = tiny_model_root / Path(next(e["base_path"] for e in entries if e["name"] == "tweetner")).name
    assert (joint / "1" / "saved_model.pb").is_file()


@pytest.fixture
def yaml():
    return pytest.importorskip("yaml")


def _mounts(volumes: list[str]) -> dict[str, tuple[str, str]]:
    """Compose short volume syntax -> {container path: (host path, mode)}."""
    out = {}
    for v in volumes:
        host, container, *mode = v.split(":")
        out[container] = (host, mode[0] if mode else "rw")
    return out


def _flags(args: list[str]) -> dict[str, str]:
    return dict(a.lstrip("-").split("=", 1) for a in args)


def test_compose_serves_saved_models_read_only(yaml, monkeypatch):
    spec = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    (service,) = spec["services"].values()
    assert re.fullmatch(r"tensorflow/serving:\d+\.\d+\.\d+", service["image"])  # pinned, never :latest
    assert {"8500:8500", "8501:8501"} <= set(service["ports"])
    mounts = _mounts(service["volumes"])
    assert mounts["/models"][1] == "ro"
    monkeypatch.delenv("TWEETNER_MODEL", raising=False)
    assert (DEPLOY / mounts["/models"][0]).resolve() == modeldir.default_root().resolve()
    flags = _flags(service["command"])
    host_config, mode = mounts[flags["model_config_file"]]  # the file the server reads is deploy/models.config
    assert mode == "ro" and (DEPLOY / host_config).resolve() == (DEPLOY / "models.config").resolve()
    assert int(flags["model_config_file_poll_wait_seconds"]) > 0
    assert service["image"] in (DEPLOY / "README.md").read_text(encoding="utf-8")


def test_k8s_deployment_and_service(yaml):
    docs = list(yaml.safe_load_all((DEPLOY / "k8s.yaml").read_text(encoding="utf-8")))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"Deployment", "Service"}
    deployment, service = kinds["Deployment"], kinds["Service"]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert [container["image"]] == [s["image"] for s in compose["services"].values()]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "rest": 8501}
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == f"/v1/models/{modeldir.DEFAULT_NAME}" and ports.get(probe["port"], probe["port"]) == 8501
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True
    flags = _flags(container["args"])
    config_dir = flags["model_config_file"].rsplit("/", 1)[0]
    assert config_dir in mounts and flags["model_config_file"].endswith("/models.config")
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert "configMap" in volumes[mounts[config_dir]["name"]]
    assert "persistentVolumeClaim" in volumes[mounts["/models"]["name"]]
    assert {p["port"]: p["targetPort"] for p in service["spec"]["ports"]} == {8500: "grpc", 8501: "rest"}
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert volumes[mounts[config_dir]["name"]]["configMap"]["name"] in readme  # README says how to create it
