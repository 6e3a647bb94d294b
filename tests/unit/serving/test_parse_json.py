"""Request bodies as JSON: UTF-8 strictly, and numbers past float64 read as infinity (for the column checks to refuse
by name) without opening what orjson refuses for good reasons."""

from __future__ import annotations

import math

import pytest

from shipyard.errors import MalformedRequestError, TextEncodingError
from shipyard.serving.inputs import parse_json


def test_numbers_past_float64_read_as_infinity() -> None:
    body = parse_json(b'{"records": [{"a": 1e309, "b": -1e309, "c": 1' + b"0" * 400 + b', "d": "caf\xc3\xa9"}]}')
    record = body["records"][0]
    assert record["a"] == math.inf and record["b"] == -math.inf and record["c"] == 10**400 and record["d"] == "café"


@pytest.mark.parametrize("body", [
    b'{"a": 1e309, "b": NaN}',  # not JSON, even after a huge number
    b'{"a": 1e309, "b": Infinity}',
    b'{"a": 1e309, "b": "\\ud800"}',  # a lone surrogate, which orjson refuses
    b'{"a": 1e309, "b": 1' + b"0" * 5000 + b"}",  # past Python's digit limit for int()
    b'{"a": 1e309,',
    b'{"a": 1e30',  # orjson fails at a number that does not overflow: its own error stands
])
def test_what_is_not_json_stays_a_400(body: bytes) -> None:
    with pytest.raises(MalformedRequestError) as caught:
        parse_json(body)
    assert caught.value.field == "body" and caught.value.http_status == 400


def test_a_body_that_is_not_utf8_names_the_byte() -> None:
    body = '{"contract": "Chèque"}'.encode("latin-1")
    with pytest.raises(TextEncodingError) as caught:
        parse_json(body)
    assert caught.value.http_status == 400 and caught.value.field == "body"
    assert caught.value.offset == body.index(b"\xe8") and "byte offset 16" in caught.value.message
