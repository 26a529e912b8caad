"""The runner: loads one model from its model.yml fields and answers requests.

    python -m scivision_runner --import scivision_demo_edges --model SobelEdges \
        --call predict --arg X [--model-args '{"k": 1}'] [--socket PATH]

Frames go over stdin/stdout (or each connection of a Unix socket); whatever the model prints is
sent to stderr, so it can never corrupt a frame.
"""

import argparse
import importlib
import json
import os
import socket
import sys
import time
import traceback

from . import protocol


# The same list as the Rust side's `Weights::cache_env` (src/weights.rs), plus the offline switches.
WEIGHT_VARIABLES = ("XDG_CACHE_HOME", "KERAS_HOME", "TORCH_HOME", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def read_input(path):
    """An input file as an array: .npy through numpy (no pickle), images through Pillow."""
    import numpy as np

    if path.lower().endswith(".npy"):
        return np.load(path, allow_pickle=False)
    try:
        from PIL import Image
    except ImportError:
        raise RuntimeError(f"{path}: reading images needs Pillow in this environment (conda package `pillow`)") from None
    with Image.open(path) as image:
        return np.asarray(image)


def error_header(exc, phase):
    return {
        "ok": False,
        "phase": phase,
        "error": {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        },
    }


class Runner:
    def __init__(self, import_name, model, call, arg, model_args):
        self.spec = {"import": import_name, "model": model, "call": call, "arg": arg}
        module = importlib.import_module(import_name)
        cls = getattr(module, model)
        self.instance = cls(**model_args)
        self.fn = getattr(self.instance, call)
        self.arg = arg

    def ready_header(self):
        import numpy

        return {
            "ok": True,
            "ready": True,
            "protocol": protocol.PROTOCOL,
            "model": self.spec,
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "numpy": numpy.__version__,
            "prefix": sys.prefix,
            # Where the model's libraries keep downloaded weights, and whether they may download.
            "caches": {k: os.environ.get(k) for k in WEIGHT_VARIABLES},
        }

    def handle(self, header, payload):
        """One request → (response header, buffers), or None to stop."""
        op = header.get("op")
        if op == "shutdown":
            return None
        if op == "info":
            return self.ready_header(), []
        if op != "predict":
            return {"ok": False, "error": {"type": "ProtocolError", "message": f"unknown op {op!r}", "traceback": ""}}, []
        started = time.perf_counter()
        outputs, buffers, offset = [], [], 0
        try:
            for item in header.get("inputs", []):
                value = protocol.decode_value(item, payload)
                if item.get("kind") == "path":
                    value = read_input(value)
                result = self.fn(**{self.arg: value}) if self.arg else self.fn(value)
                described, offset = protocol.encode_value(result, buffers, offset)
                outputs.append(described)
        except Exception as exc:  # the model's own error goes back whole
            return error_header(exc, "predict"), []
        return {"ok": True, "outputs": outputs, "seconds": time.perf_counter() - started}, buffers

    def serve(self, reader, writer):
        protocol.write_frame(writer, self.ready_header())
        while True:
            try:
                header, payload = protocol.read_frame(reader)
            except EOFError:
                return
            reply = self.handle(header, payload)
            if reply is None:
                protocol.write_frame(writer, {"ok": True, "bye": True})
                return
            protocol.write_frame(writer, *reply)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scivision_runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--import", dest="import_name")
    parser.add_argument("--model")
    parser.add_argument("--call", default="predict")
    parser.add_argument("--arg", default="X")
    parser.add_argument("--model-args", default="{}", help="JSON object of keyword arguments for the model class")
    parser.add_argument("--socket", help="serve on this Unix socket instead of stdin/stdout")
    parser.add_argument("--self-test", action="store_true", help="check the runner itself and exit")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.import_name or not args.model:
        parser.error("--import and --model are required")

    # Frames own the real stdout; anything the model prints goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = os.fdopen(os.dup(0), "rb")

    try:
        runner = Runner(args.import_name, args.model, args.call, args.arg, json.loads(args.model_args))
    except Exception as exc:
        protocol.write_frame(out, error_header(exc, "load"))
        return 1
    if args.socket:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(args.socket)
        server.listen(1)
        protocol.write_frame(out, runner.ready_header())
        try:
            while True:
                conn, _ = server.accept()
                with conn, conn.makefile("rb") as r, conn.makefile("wb") as w:
                    runner.serve(r, w)
        finally:
            server.close()
            os.unlink(args.socket)
    runner.serve(inp, out)
    return 0


def self_test():
    """A round trip through the framing with an in-memory model, for the package's own test."""
    import io

    import numpy as np

    class Double:
        def predict(self, X):
            return X * 2

    runner = Runner.__new__(Runner)
    runner.spec, runner.instance, runner.arg = {}, Double(), "X"
    runner.fn = runner.instance.predict
    buffers = []
    item, _ = protocol.encode_value(np.arange(6, dtype="<i4").reshape(2, 3), buffers, 0)
    request = io.BytesIO()
    protocol.write_frame(request, {"op": "predict", "inputs": [item]}, buffers)
    header, payload = protocol.read_frame(io.BytesIO(request.getvalue()))
    reply, out_buffers = runner.handle(header, payload)
    response = io.BytesIO()
    protocol.write_frame(response, reply, out_buffers)
    header, payload = protocol.read_frame(io.BytesIO(response.getvalue()))
    result = protocol.decode_value(header["outputs"][0], payload)
    assert result.tolist() == [[0, 2, 4], [6, 8, 10]], result
    print("scivision-runner self-test ok")
    return 0
