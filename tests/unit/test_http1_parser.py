"""The HTTP/1.1 response parser and the watch line buffer: framing by Content-Length, chunks and EOF,
and lines, wherever the bytes split."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsched.kube.client import LineBuffer
from jobsched.kube.http1 import MAX_HEAD_BYTES, ProtocolError, RawResponse, ResponseParser

BODY = b'{"kind":"Binding","apiVersion":"v1"}'
LENGTH = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\nRetry-After: 2\r\n\r\n" + BODY
)
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\n" + BODY[:5] + b"\r\n"
    b"1f\r\n" + BODY[5:] + b"\r\n"
    b"0\r\nX-Trailer: yes\r\n\r\n"
)


def feed_split(data: bytes, cuts: list[int]) -> RawResponse | None:
    parser = ResponseParser()
    response = None
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in itertools.pairwise(edges):
        assert response is None, "a response came before its last byte"
        response = parser.feed(data[start:end])
    return response


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_a_content_length_response_is_the_same_however_the_bytes_arrive(cuts: list[int]) -> None:
    response = feed_split(LENGTH, cuts)
    assert response == RawResponse(
        201,
        {b"content-type": b"application/json", b"content-length": b"36", b"retry-after": b"2"},
        BODY,
        keep_alive=True,
    )


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_a_chunked_response_with_extensions_and_trailers_is_the_same_however_the_bytes_arrive(
    cuts: list[int],
) -> None:
    response = feed_split(CHUNKED, cuts)
    assert response is not None
    assert (response.status, response.body, response.keep_alive) == (200, BODY, True)


def test_an_incomplete_response_is_none_until_its_last_byte() -> None:
    parser = ResponseParser()
    assert parser.feed(LENGTH[:-1]) is None
    assert parser.feed(LENGTH[-1:]) is not None


def test_connection_close_and_http_1_0_are_not_kept_alive() -> None:
    close = ResponseParser().feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    old = ResponseParser().feed(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    kept = ResponseParser().feed(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
    assert close is not None
    assert not close.keep_alive
    assert old is not None
    assert not old.keep_alive
    assert kept is not None
    assert kept.keep_alive


def test_204_has_no_body_whatever_it_says() -> None:
    response = ResponseParser().feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert response is not None
    assert (response.status, response.body, response.keep_alive) == (204, b"", True)


def test_an_informational_head_is_skipped() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + LENGTH
    response = ResponseParser().feed(data)
    assert response is not None
    assert response.status == 201
    assert response.body == BODY


def test_a_body_without_framing_runs_to_the_end_of_the_connection() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 500 Internal Server Error\r\n\r\npart one, ") is None
    assert parser.feed(b"part two") is None
    response = parser.eof()
    assert (response.status, response.body, response.keep_alive) == (500, b"part one, part two", False)


def test_bytes_after_the_response_make_the_connection_unusable() -> None:
    response = ResponseParser().feed(LENGTH + b"HTTP/1.1 200 OK\r\n")
    assert response is not None
    assert not response.keep_alive


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 abc OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "chunk not followed by CRLF"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 2000, "chunk-size line too long"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * (MAX_HEAD_BYTES + 1), "response head longer than"),
    ],
)
def test_bad_responses_raise_a_protocol_error_naming_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        ResponseParser().feed(data)


@pytest.mark.parametrize(
    ("data", "state"),
    [
        (b"HTTP/1.1 200 OK\r\n", "head"),
        (LENGTH[:-3], "length body"),
        (CHUNKED[:60], "chunked body"),
        (CHUNKED[:-2], "trailer body"),
    ],
)
def test_a_connection_that_ends_mid_response_is_a_protocol_error(data: bytes, state: str) -> None:
    parser = ResponseParser()
    assert parser.feed(data) is None
    with pytest.raises(ProtocolError, match=f"closed in the response's {state}"):
        parser.eof()


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_a_watch_streams_lines_are_the_same_however_the_bytes_arrive(cuts: list[int]) -> None:
    stream = b'{"type":"ADDED"}\n\n{"type":"MODIFIED","object":{"big":"' + b"x" * 3000 + b'"}}\n{"type":"DEL'
    buffer = LineBuffer()
    lines: list[bytes] = []
    edges = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    for start, end in itertools.pairwise(edges):
        lines += buffer.feed(stream[start:end])
    assert (
        lines == stream.split(b"\n")[:1] + stream.split(b"\n")[2:3]
    )  # the blank line and the partial one held
    assert buffer.feed(b'ETED"}\n') == [b'{"type":"DELETED"}']
