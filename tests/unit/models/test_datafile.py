"""The one reader of data files: text is decoded strictly, and a byte that is not text in the file's encoding is an
error naming the file, the row, the column and the byte offset; never a column of raw bytes.

The files are real: latin-1 bytes written to disk, read back by Arrow's streaming CSV reader.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from shipyard.errors import TextEncodingError, ValidationError
from shipyard.models.datafile import check_column_types, decode_text, open_csv, read_csv, read_text

ROWS = 200
BAD_ROW = 135


def _lines(bad_row: int = BAD_ROW, rows: int = ROWS) -> list[str]:
    return ["tenure,payment,note"] + [f"{row % 70 + 1},{'Chèque' if row == bad_row else 'card'},n{row}"
                                      for row in range(rows)]


def _write(path: Path, lines: list[str], encoding: str) -> bytes:
    data = ("\n".join(lines) + "\n").encode(encoding)
    path.write_bytes(data)
    return data


def _read_all(path: Path, **options: object) -> pa.Table:
    reader = open_csv(path, **options)  # type: ignore[arg-type]
    return pa.Table.from_batches(list(reader), schema=reader.schema)


def test_a_latin1_csv_is_refused_naming_its_row_column_and_byte(tmp_path: Path) -> None:
    data = _write(tmp_path / "latin1.csv", _lines(), "latin-1")
    with pytest.raises(TextEncodingError) as caught:
        _read_all(tmp_path / "latin1.csv")
    error = caught.value
    offset = data.index(b"\xe8")
    assert (error.row, error.column, error.offset, error.encoding) == (BAD_ROW, "payment", offset, "utf-8")
    assert error.field == "payment" and error.line == BAD_ROW + 2
    message = error.message
    assert "latin1.csv" in message and f"row {BAD_ROW}" in message and f"byte offset {offset}" in message
    assert "0xE8" in message and "--encoding latin-1" in message and "UTF-8" in message
    assert "\n" not in message


def test_the_same_file_reads_with_its_encoding_as_the_utf8_file_does(tmp_path: Path) -> None:
    _write(tmp_path / "latin1.csv", _lines(), "latin-1")
    _write(tmp_path / "utf8.csv", _lines(), "utf-8")
    as_latin1 = _read_all(tmp_path / "latin1.csv", encoding="latin-1")
    assert as_latin1.schema.field("payment").type == pa.string()
    assert as_latin1.equals(_read_all(tmp_path / "utf8.csv"))
    assert as_latin1.column("payment")[BAD_ROW].as_py() == "Chèque"


def test_a_bad_byte_far_after_the_first_block_is_found(tmp_path: Path) -> None:
    """Arrow infers types on the first block; a later block fails on its own, and the row is still right."""
    rows = 20_000
    data = _write(tmp_path / "late.csv", _lines(bad_row=rows - 3, rows=rows), "latin-1")
    with pytest.raises(TextEncodingError) as caught:
        _read_all(tmp_path / "late.csv", block_size=1 << 14)
    assert (caught.value.row, caught.value.offset) == (rows - 3, data.index(b"\xe8"))


def test_a_column_arrow_would_read_as_binary_is_refused_even_when_nobody_asked_for_text(tmp_path: Path) -> None:
    """No column_types: Arrow's own inference makes the column ``binary`` and reads on without a word."""
    _write(tmp_path / "ids.csv", _lines(), "latin-1")
    assert pacsv.read_csv(tmp_path / "ids.csv").schema.field("payment").type == pa.binary()  # what Arrow does
    with pytest.raises(TextEncodingError) as caught:
        read_csv(tmp_path / "ids.csv")
    assert caught.value.row == BAD_ROW


def test_quoted_line_breaks_do_not_shift_the_row(tmp_path: Path) -> None:
    lines = ["id,text", '0,"two\nlines"', "1,plain", "2,caf\xe9", "3,end"]
    data = _write(tmp_path / "quoted.csv", lines, "latin-1")
    with pytest.raises(TextEncodingError) as caught:
        read_csv(tmp_path / "quoted.csv")
    assert (caught.value.row, caught.value.column, caught.value.line) == (2, "text", 5)
    assert caught.value.offset == data.index(b"\xe9")


def test_a_bad_byte_in_the_header_names_the_header(tmp_path: Path) -> None:
    data = _write(tmp_path / "header.csv", ["id,caf\xe9", "1,2"], "latin-1")
    with pytest.raises(TextEncodingError) as caught:
        read_csv(tmp_path / "header.csv")
    assert caught.value.row is None and caught.value.offset == data.index(b"\xe9")
    assert "header" in caught.value.message


def test_a_compressed_file_is_located_in_its_decompressed_bytes(tmp_path: Path) -> None:
    data = ("\n".join(_lines()) + "\n").encode("latin-1")
    (tmp_path / "data.csv.gz").write_bytes(gzip.compress(data))
    with pytest.raises(TextEncodingError) as caught:
        read_csv(tmp_path / "data.csv.gz")
    assert (caught.value.row, caught.value.offset) == (BAD_ROW, data.index(b"\xe8"))


def test_another_encoding_is_decoded_strictly_too(tmp_path: Path) -> None:
    """0x81 has no character in cp1252: told the file is cp1252, the reader says where that is false."""
    data = b"id,name\n1,caf\xe9\n2,x\x81y\n"
    (tmp_path / "cp.csv").write_bytes(data)
    with pytest.raises(TextEncodingError) as caught:
        read_csv(tmp_path / "cp.csv", encoding="cp1252")
    assert (caught.value.row, caught.value.offset, caught.value.encoding) == (1, data.index(b"\x81"), "cp1252")
    assert "cp1252" in caught.value.message


def test_an_unknown_encoding_is_an_input_error_naming_the_option(tmp_path: Path) -> None:
    _write(tmp_path / "utf8.csv", _lines(), "utf-8")
    with pytest.raises(ValidationError) as caught:
        read_csv(tmp_path / "utf8.csv", encoding="latin-9000")
    assert caught.value.field == "encoding" and "latin-9000" in caught.value.message


def test_decode_text_names_the_source_line_and_byte() -> None:
    data = "auc: 0.9\nnote: Chèque\n".encode("latin-1")
    with pytest.raises(TextEncodingError) as caught:
        decode_text(data, "reports/metrics.yaml")
    assert (caught.value.line, caught.value.offset) == (2, data.index(b"\xe8"))
    assert "reports/metrics.yaml" in caught.value.message and "line 2" in caught.value.message
    assert decode_text("note: Chèque\n".encode(), "ok.yaml") == "note: Chèque\n"


def test_read_text_reads_utf8_files_only(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_bytes("C: 1 # Chèque\n".encode("latin-1"))
    with pytest.raises(TextEncodingError) as caught:
        read_text(tmp_path / "params.yaml")
    assert "params.yaml" in caught.value.message and caught.value.offset == 9


@pytest.mark.parametrize(("arrow_type", "kind", "problem"), [
    (pa.binary(), "string", "binary"),
    (pa.large_binary(), "string", "binary"),
    (pa.string(), "integer", "text"),
    (pa.string(), "float", "text"),
    (pa.bool_(), "float", "true/false"),
    (pa.int64(), "string", "numbers"),
    (pa.list_(pa.int64()), "integer", "list"),
])
def test_a_parquet_column_of_another_type_than_the_signature_is_refused_naming_it(
        arrow_type: pa.DataType, kind: str, problem: str) -> None:
    schema = pa.schema([("id", pa.string()), ("payment", arrow_type)])
    with pytest.raises(ValidationError) as caught:
        check_column_types(schema, {"payment": kind}, "live.parquet")
    assert caught.value.field == "payment"
    assert "live.parquet" in caught.value.message and "'payment'" in caught.value.message
    assert problem in caught.value.message


@pytest.mark.parametrize(("arrow_type", "kind"), [
    (pa.string(), "string"), (pa.large_string(), "string"), (pa.dictionary(pa.int32(), pa.string()), "string"),
    (pa.int64(), "integer"), (pa.float64(), "integer"), (pa.int32(), "float"), (pa.float32(), "float"),
    (pa.decimal128(10, 2), "float"), (pa.bool_(), "boolean"), (pa.timestamp("us"), "datetime"),
    (pa.date32(), "datetime"), (pa.string(), "datetime"), (pa.null(), "integer"), (pa.null(), "string"),
])
def test_types_the_coercion_rule_reads_value_by_value_pass(arrow_type: pa.DataType, kind: str) -> None:
    check_column_types(pa.schema([("column", arrow_type)]), {"column": kind}, "live.parquet")
