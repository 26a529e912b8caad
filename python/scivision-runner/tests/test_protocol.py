"""The runner's side of the wire format, against the golden frames the Rust side shares
(tests/data/runner/), and the protocol version both sides check."""

import io
import os
import stat
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from scivision_runner import client, protocol, server

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "data" / "runner"


def test_a_request_is_written_byte_for_byte_as_the_golden_frame():
    buffers = []
    item, _ = protocol.encode_value(np.arange(6, dtype="<i4").reshape(2, 3), buffers, 0)
    out = io.BytesIO()
    protocol.write_frame(out, {"op": "predict", "inputs": [item]}, buffers)
    assert out.getvalue() == (GOLDEN / "python-request.frame").read_bytes()


def test_a_reply_the_rust_side_wrote_decodes_to_its_array():
    with open(GOLDEN / "rust-reply.frame", "rb") as f:
        header, payload = protocol.read_frame(f)
    assert header["ok"] is True and header["seconds"] == 0.25
    array = protocol.decode_value(header["outputs"][0], payload)
    assert array.dtype == np.dtype("<f8")
    assert array.tolist() == [[0.5, 1.5], [2.5, 3.5]]


def test_a_header_larger_than_the_limit_is_refused():
    frame = struct.pack(">I", protocol.MAX_HEADER + 1) + b"{}"
    with pytest.raises(protocol.ProtocolError):
        protocol.read_frame(io.BytesIO(frame))


def test_a_frame_cut_short_is_an_eof_not_a_short_payload():
    frame = (GOLDEN / "python-request.frame").read_bytes()[:-1]
    with pytest.raises(EOFError):
        protocol.read_frame(io.BytesIO(frame))


def test_the_ready_frame_names_the_protocol():
    runner = server.Runner.__new__(server.Runner)
    runner.spec = {"import": "m", "model": "C"}
    header = runner.ready_header()
    assert header["ready"] is True
    assert header["protocol"] == protocol.PROTOCOL


def test_the_round_trip_self_test_passes():
    assert server.self_test() == 0


def test_the_client_refuses_a_runner_of_another_protocol(tmp_path):
    # Plays `scivision serve`: an old runner's ready frame, which names no protocol.
    fake = tmp_path / "scivision"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(Path(protocol.__file__).resolve().parents[1])!r})\n"
        "from scivision_runner import protocol\n"
        "protocol.write_frame(sys.stdout.buffer, {'ok': True, 'ready': True})\n"
        "sys.stdin.buffer.read()\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(client.ModelError, match="protocol 0.*re-create the environment"):
        client.Model("old-model", scivision=os.fspath(fake))
