"""Text files and bodies Shipyard reads itself, decoded strictly: the one place of the UTF-8 rule's messages.

A byte that is not UTF-8 is a :class:`~shipyard.errors.TextEncodingError` naming the source, its line and byte
offset, with the bytes around it, never a replacement character. ``shipyard.yaml``, ``params.yaml``,
``serving.yaml``, ``monitoring.yaml``, metrics files and request bodies all go through :func:`decode_text`;
data files add their rows and columns on top of it (``models.datafile``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import TextEncodingError

CONTEXT_BYTES = 24  # shown on each side of a bad byte, within its line (and its CSV field)


def decode_text(data: bytes, source: str, *, advice: str = "re-save it as UTF-8", field: str | None = None) -> str:
    """``data`` decoded as UTF-8, or a TextEncodingError naming ``source``, the line and the byte offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = f"line {line} has byte 0x{data[exc.start]:02X} at byte offset {exc.start}"
        context = quoted_context(data, exc.start, "utf-8")
        raise TextEncodingError(f"{source} is not valid UTF-8: {where} ({context}); {advice}.",
                                source=source, offset=exc.start, encoding="utf-8", line=line,
                                field=field or source) from None


def read_text(path: Path, source: str | None = None) -> str:
    """A text file Shipyard reads itself (metrics, params, pipeline): UTF-8, strictly (see :func:`decode_text`)."""
    return decode_text(path.read_bytes(), source or str(path))


def quoted_context(data: bytes, start: int, encoding: str, delimiter: str | None = None) -> str:
    """The bytes around ``start`` within their line (and CSV field), decoded with \\xNN for what does not decode."""
    low = max(0, start - CONTEXT_BYTES)
    high = start + CONTEXT_BYTES
    for stop in (b"\n", b"\r", *([delimiter.encode()] if delimiter else [])):
        found = data.rfind(stop, low, start)
        low = max(low, found + 1) if found >= 0 else low
        found = data.find(stop, start, high)
        high = min(high, found) if found >= 0 else high
    return '"' + data[low:high].decode(encoding, "backslashreplace") + '"'
