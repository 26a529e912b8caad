"""Call Scivision models that live in their own prefixes, from any Python.

    from scivision_runner import load_model
    edges = load_model("scivision-demo-edges")      # created with `scivision env create`
    result = edges.predict(image_array)             # or a path to a PNG/JPEG/.npy file

Each model runs in its own process (``scivision serve <model>``: the model's prefix, activated),
so models whose dependencies conflict can be used side by side. Only numpy is needed here.
"""

import atexit
import os
import shutil
import subprocess
import weakref

from . import protocol

_live = weakref.WeakSet()


class ModelError(RuntimeError):
    """The model raised (its traceback is in ``remote_traceback``) or its runner failed."""

    def __init__(self, message, remote_traceback=""):
        super().__init__(message + (f"\n\nmodel traceback:\n{remote_traceback}" if remote_traceback else ""))
        self.remote_traceback = remote_traceback


class Model:
    """A model served by a runner process in its own environment."""

    def __init__(self, name, scivision="scivision", offline=False):
        exe = shutil.which(scivision) or scivision
        cmd = [exe, "serve", name] + (["--offline"] if offline else [])
        self.name = name
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            header, _ = protocol.read_frame(self._proc.stdout)
        except (EOFError, protocol.ProtocolError):
            code = self._proc.wait()
            raise ModelError(f"the runner for {name!r} exited (code {code}) before it was ready; see its message above") from None
        if not header.get("ok"):
            self._proc.wait()
            err = header.get("error", {})
            raise ModelError(f"{name}: cannot load the model: {err.get('type')}: {err.get('message')}", err.get("traceback", ""))
        if header.get("protocol", 0) != protocol.PROTOCOL:
            self.close()
            raise ModelError(
                f"the runner in {name!r}'s environment speaks protocol {header.get('protocol', 0)}, this client "
                f"{protocol.PROTOCOL}: re-create the environment (`scivision env create {name}`)"
            )
        self.info = header
        _live.add(self)

    def predict(self, x):
        """Runs the model's prediction function on one input (an array or a file path)."""
        if self._proc.poll() is not None:
            raise ModelError(f"the runner for {self.name!r} is not running (exit code {self._proc.returncode})")
        buffers = []
        if isinstance(x, (str, os.PathLike)):
            item = {"kind": "path", "path": os.path.abspath(os.fspath(x))}
        else:
            import numpy as np

            item, _ = protocol.encode_value(np.asarray(x), buffers, 0)
        try:
            protocol.write_frame(self._proc.stdin, {"op": "predict", "inputs": [item]}, buffers)
            header, payload = protocol.read_frame(self._proc.stdout)
        except (BrokenPipeError, EOFError, protocol.ProtocolError) as e:
            code = self._proc.wait()
            raise ModelError(f"the runner for {self.name!r} died during the request (exit code {code}): {e}") from None
        if not header.get("ok"):
            err = header.get("error", {})
            raise ModelError(f"{self.name}: {err.get('type')}: {err.get('message')}", err.get("traceback", ""))
        return protocol.decode_value(header["outputs"][0], payload)

    def close(self):
        """Stops the runner (politely, then firmly)."""
        proc = getattr(self, "_proc", None)
        if proc is None or proc.poll() is not None:
            return
        try:
            protocol.write_frame(proc.stdin, {"op": "shutdown"})
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        state = "running" if self._proc.poll() is None else f"exited {self._proc.returncode}"
        return (
            f"<scivision model {self.name!r}: {self.info['model'].get('import')}.{self.info['model'].get('model')}"
            f" in {self.info.get('prefix')} (pid {self._proc.pid}, {state}, python {self.info.get('python')},"
            f" numpy {self.info.get('numpy')})>"
        )


def load_model(name, *, scivision="scivision", offline=False):
    """Starts the runner of ``name``'s environment and returns a :class:`Model`."""
    return Model(name, scivision=scivision, offline=offline)


@atexit.register
def _close_all():
    for model in list(_live):
        model.close()
