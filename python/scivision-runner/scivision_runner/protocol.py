"""The wire format between scivision and a runner: frames over a pipe or a Unix socket.

A frame is a 4-byte big-endian length N, N bytes of UTF-8 JSON (the header), then
``header["nbytes"]`` bytes of payload: the raw bytes of the frame's arrays, one after the other.
An array is described in the header as ``{"kind": "array", "dtype": "<f8", "shape": [h, w],
"offset": o, "nbytes": n}`` (C order, little- or big-endian as its dtype says); other values are
``{"kind": "json", "value": ...}`` and files are ``{"kind": "path", "path": "..."}``.
No pickle: only numeric dtypes cross the wire.

Requests:  ``{"op": "predict", "inputs": [...]}``, ``{"op": "info"}``, ``{"op": "shutdown"}``.
Responses: ``{"ok": true, "outputs": [...], "seconds": s}`` or
           ``{"ok": false, "error": {"type": ..., "message": ..., "traceback": ...}}``.
The runner's first frame is ``{"ok": true, "ready": true, "protocol": 1, ...}`` (or the load
error). ``protocol`` counts incompatible changes of this format: the other side refuses a runner
that speaks another (a runner from before the count sends none, which counts as 0).

``tests/data/runner/`` holds golden frames that both sides read and write in their tests.
"""

import json
import struct

MAX_HEADER = 16 * 1024 * 1024
PROTOCOL = 1


class ProtocolError(RuntimeError):
    """The other side sent something that is not a frame, or went away mid-frame."""


def _read_exact(stream, n):
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError(f"connection closed with {left} of {n} bytes missing")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_frame(stream, header, buffers=()):
    """Writes one frame; ``header["nbytes"]`` is set from ``buffers``."""
    buffers = [memoryview(b).cast("B") for b in buffers]
    header = dict(header, nbytes=sum(len(b) for b in buffers))
    data = json.dumps(header).encode()
    stream.write(struct.pack(">I", len(data)) + data)
    for b in buffers:
        stream.write(b)
    stream.flush()


def read_frame(stream):
    """Reads one frame: (header, payload bytes). EOFError when the stream ends between frames."""
    first = stream.read(4)
    if not first:
        raise EOFError("connection closed")
    if len(first) < 4:
        first += _read_exact(stream, 4 - len(first))
    (size,) = struct.unpack(">I", first)
    if size > MAX_HEADER:
        raise ProtocolError(f"header of {size} bytes is larger than {MAX_HEADER}")
    try:
        header = json.loads(_read_exact(stream, size))
    except ValueError as e:
        raise ProtocolError(f"header is not JSON: {e}") from None
    payload = _read_exact(stream, int(header.get("nbytes", 0)))
    return header, payload


def encode_value(value, buffers, offset):
    """Describes ``value`` for a header, appending array bytes to ``buffers``; returns (item, offset)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"arrays of dtype {value.dtype} cannot cross the wire (numeric dtypes only)")
        value = np.ascontiguousarray(value)
        raw = value.tobytes()
        buffers.append(raw)
        item = {"kind": "array", "dtype": value.dtype.str, "shape": list(value.shape), "offset": offset, "nbytes": len(raw)}
        return item, offset + len(raw)
    return {"kind": "json", "value": to_json(value)}, offset


def decode_value(item, payload):
    """The value an item describes (arrays are read-only views of the payload)."""
    kind = item.get("kind")
    if kind == "array":
        import numpy as np

        dtype = np.dtype(item["dtype"])
        if dtype.kind not in "biufc":
            raise ProtocolError(f"refusing dtype {dtype}")
        start, n = int(item["offset"]), int(item["nbytes"])
        return np.frombuffer(payload[start : start + n], dtype=dtype).reshape(item["shape"])
    if kind == "json":
        return item["value"]
    if kind == "path":
        return item["path"]
    raise ProtocolError(f"unknown item kind {kind!r}")


def to_json(value):
    """numpy scalars and arrays nested in dicts and lists become plain JSON values."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - the runner always has numpy
        np = None
    if np is not None:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)
