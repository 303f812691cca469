"""gRPC request frames for h2load: the 5-byte length prefix, exactly one message."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.harness.frames import FrameError, build_frame, parse_frame, write_frame_file


def test_prefix_is_flag_then_big_endian_length() -> None:
    """A 3-byte message becomes 00 00000003 followed by the message."""
    assert build_frame(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert build_frame(b"", compressed=True) == b"\x01\x00\x00\x00\x00"


def test_frame_of_a_real_protobuf_message() -> None:
    """A serialized protobuf message is carried byte for byte after its prefix."""
    from google.protobuf import wrappers_pb2

    message = wrappers_pb2.StringValue(value="SUMMER-0001").SerializeToString()
    frame = build_frame(message)
    assert frame[:5] == bytes([0, 0, 0, 0, len(message)])
    parsed = wrappers_pb2.StringValue.FromString(parse_frame(frame)[1])
    assert parsed.value == "SUMMER-0001"


@given(st.binary(max_size=5000), st.booleans())
def test_build_and_parse_round_trip(message: bytes, compressed: bool) -> None:
    """parse_frame(build_frame(m)) gives back the flag and the message."""
    assert parse_frame(build_frame(message, compressed=compressed)) == (compressed, message)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x00\x00\x00", "shorter than"),
        (b"\x00\x00\x00\x00\x05abc", "announces 5 bytes but 3"),
        (b"\x00\x00\x00\x00\x01ab", "announces 1 bytes but 2"),
        (b"\x02\x00\x00\x00\x00", "compressed flag"),
    ],
)
def test_malformed_frames_are_rejected_with_the_reason(frame: bytes, message: str) -> None:
    """Truncated, over-long or badly flagged frames raise FrameError naming the problem."""
    with pytest.raises(FrameError, match=message):
        parse_frame(frame)


def test_write_frame_file_holds_exactly_one_frame(tmp_path: Path) -> None:
    """The file h2load sends is the frame and nothing else."""
    path = write_frame_file(tmp_path / "req.bin", b"hello")
    assert parse_frame(path.read_bytes()) == (False, b"hello")
