"""Request bodies read exactly: an integer past 64 bits stays the integer sent, never the nearest float."""

from __future__ import annotations

import orjson
import pytest

from shipyard.serving.jsonbody import loads


@pytest.mark.parametrize("number", [-(2**63) - 1, 2**64 + 1, 10**30 + 1, -(10**40) - 1])
def test_integers_past_64_bits_are_read_exactly(number: int) -> None:
    assert orjson.loads(str(number).encode()) != number  # the reason this module exists
    value = loads(b'{"records": [{"x": %d}], "id": "abc"}' % number)
    assert value == {"records": [{"x": number}], "id": "abc"} and type(value["records"][0]["x"]) is int


@pytest.mark.parametrize("body", [b'{"a": 1.5, "b": "12345678901234567890", "c": 9223372036854775807}',
                                  b'[0.12345678901234567890123, -9223372036854775808]', b'{"a": [true, null]}'])
def test_the_two_readers_agree_on_everything_else(body: bytes) -> None:
    assert loads(body) == orjson.loads(body)


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": 1e400}', b'["\\ud800"]', b"{", b"7" * 5000])
def test_what_orjson_refuses_is_still_refused(body: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        loads(body)
