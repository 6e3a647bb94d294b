"""A records body parsed in slices gives exactly what one ``orjson.loads`` gives, or is parsed whole."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from shipyard.serving import sliced_json

SLICE = 64  # tiny slices, so a body of a few kilobytes is cut many times
INTEGERS = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what orjson writes
TRICKY = ["Month-to-month", "Chèque", "a},{b", 'x"},{"y', "[]{}", "\\", "},\n{", "\u2028"]


def record(index: int, text: str) -> dict[str, Any]:
    return {"tenure": index, "monthly_charges": index * 1.5, "contract": text, "paperless": index % 2 == 0,
            "missing": None}


def body(records: list[dict[str, Any]], *, separator: bytes = b",", **rest: Any) -> bytes:
    return b'{"records":[' + separator.join(orjson.dumps(item) for item in records) + b"]" + (
        b"," + orjson.dumps(rest)[1:] if rest else b"}")


def test_an_ordinary_body_is_parsed_in_slices_to_the_same_value() -> None:
    data = body([record(index, "Chèque" if index % 3 else "One year") for index in range(400)], request_id="r-1",
                sticky_key="c-9")
    sliced = sliced_json.in_slices(data, slice_bytes=SLICE)
    assert sliced is not None
    assert sliced == orjson.loads(data)
    assert list(sliced) == ["records", "request_id", "sticky_key"]


@pytest.mark.parametrize("data", [
    b'  {\n "records" :\n [ ' + b" ,\n  ".join(orjson.dumps(record(index, "x")) for index in range(300)) + b" ]\n}  ",
    body([record(index, "x") for index in range(300)], separator=b" , "),
    b'{"dataframe_records":[' + b",".join(orjson.dumps(record(index, "x")) for index in range(300)) + b'],"a":[1]}',
], ids=["whitespace everywhere", "spaces around commas", "dataframe_records"])
def test_other_spellings_of_the_same_shape_are_sliced_too(data: bytes) -> None:
    sliced = sliced_json.in_slices(data, slice_bytes=SLICE)
    assert sliced is not None and sliced == orjson.loads(data)


many = [record(index, "x") for index in range(300)]
NOT_SLICED = {
    "records not first": b'{"request_id":"r",' + body(many)[1:],
    "the key again after the records": body(many)[:-1] + b',"records":[]}',
    "the key again, spelled with an escape": body(many)[:-1] + b',"rec\\u006frds":[]}',
    "not closed": body(many)[:-1],
    "a NaN in a record": body(many).replace(b'"tenure":150,', b'"tenure":NaN,'),
    "something after the object": body(many) + b" x",
    "nowhere to cut": b'{"records":[' + b",".join(b"[1,2]" for _ in range(2000)) + b"]}",
}


@pytest.mark.parametrize("data", list(NOT_SLICED.values()), ids=list(NOT_SLICED))
def test_what_slicing_cannot_parse_exactly_is_left_to_one_parse(data: bytes) -> None:
    assert sliced_json.in_slices(data, slice_bytes=SLICE) is None
    try:
        expected: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        with pytest.raises(orjson.JSONDecodeError) as caught:
            sliced_json.loads(data, slice_bytes=SLICE)
        assert str(caught.value) == str(exc)  # the message and position of the whole body
    else:
        assert sliced_json.loads(data, slice_bytes=SLICE) == expected


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=12)), min_size=1, max_size=120),
       separator=st.sampled_from([b",", b", ", b"\n,\n", b" ,"]),
       rest=st.dictionaries(st.sampled_from(["request_id", "sticky_key", "other"]),
                            st.one_of(st.text(max_size=5), INTEGERS, st.lists(INTEGERS, max_size=3)),
                            max_size=3),
       cut=st.integers(min_value=0, max_value=40))
def test_slices_never_give_another_value_than_one_parse(texts: list[str], separator: bytes, rest: dict[str, Any],
                                                       cut: int) -> None:
    """Strings holding ``},{``, escapes and line separators, with the body cut short or not."""
    data = body([record(index, text) for index, text in enumerate(texts)], separator=separator, **rest)
    data = data[:len(data) - cut] if cut > 30 else data  # now and then a body that stops halfway
    sliced = sliced_json.in_slices(data, slice_bytes=SLICE)
    if sliced is not None:
        assert sliced == orjson.loads(data)
