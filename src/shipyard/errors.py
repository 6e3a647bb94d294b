"""Every error Shipyard raises on purpose.

One root, typed leaves. Each leaf also inherits the matching built-in exception so generic callers
can catch ``LookupError`` or ``ValueError``, and carries the exit code the CLI uses and the HTTP status
the servers answer with, so both map errors in exactly one place::

    ShipyardError (Exception)                      exit 1, HTTP 500
    ├── ConfigError (ValueError)                   exit 2, HTTP 400   bad configuration or store location
    ├── ValidationError (ValueError)               exit 2, HTTP 422   bad input: keys, values, filters
    │   ├── FilterSyntaxError                      exit 2, HTTP 422   a search filter that does not parse
    │   ├── MalformedRequestError                  exit 2, HTTP 400   a request body that is not valid JSON/shape
    │   │   └── UnsupportedMediaTypeError          exit 2, HTTP 415   a request body sent as a type other than JSON
    │   ├── TextEncodingError                      exit 2, HTTP 400   a file or body that is not text in its encoding
    │   ├── PayloadTooLargeError                   exit 2, HTTP 413   a request body over the server's limit
    │   ├── RequestTimeoutError                    exit 2, HTTP 408   a request body that stopped arriving
    │   └── ModelError                             exit 2, HTTP 422   a model raised on input its signature accepted
    ├── NotFoundError (LookupError)                exit 2, HTTP 404   unknown run, experiment, object
    ├── AmbiguousError (LookupError)               exit 2, HTTP 409   a prefix that matches several ids
    ├── ConflictError                              exit 2, HTTP 409   a write that contradicts stored data
    ├── UnauthorizedError (PermissionError)        exit 2, HTTP 401   a write without the server's token
    ├── ForbiddenError (PermissionError)           exit 2, HTTP 403   a write this server refuses to anyone
    │   └── RoleError                              exit 2, HTTP 403   a token whose role is too low for the request
    ├── NotSupportedError                          exit 2, HTTP 501   a request of a foreign API Shipyard does not do
    ├── IntegrityError                             exit 1, HTTP 500   stored bytes no longer match their hash
    ├── StoreUnavailableError (OSError)            exit 2, HTTP 503   the store cannot be opened or written
    │   ├── RemoteStoreError                       exit 1, HTTP 503   a remote object store refused or is unreachable
    │   └── TrackingServerError                    exit 1, HTTP 503   a tracking server stayed unreachable past retries
    ├── NothingScoredError                         exit 1, HTTP 422   batch scoring refused every row of a file
    ├── ModelOutputError                           exit 1, HTTP 503   a model answered a non-finite probability
    ├── StageFailedError                           exit 1, HTTP 500   a pipeline stage's command failed
    ├── VerificationError                          exit 1, HTTP 500   an ONNX export that answers unlike the model
    ├── CheckFailedError                           exit 3, HTTP 422   a check ran and said no (held back, alert)
    └── MissingExtraError (ImportError)            exit 2, HTTP 503   an optional dependency is not installed

Exit code 3 is not a failure of Shipyard or of the input: the check ran and its answer is no, which scripts and
CI branch on (``shipyard models promote`` held the candidate back, ``shipyard monitor check`` found an alert).

Messages are full sentences naming the thing and what to do next; the inputs are also kept as
attributes so programs never have to parse a message.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing would cost ``shipyard.ShipyardError`` most of its import time, and
# mypy treats any name TYPE_CHECKING as true (as the facade does).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ShipyardError(Exception):
    """Root of every error Shipyard raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(ShipyardError, ValueError):
    """A configuration file, environment variable or store location is wrong."""

    exit_code = 2
    http_status = 400


class ValidationError(ShipyardError, ValueError):
    """Input that can never be accepted: an invalid key, a value too long, a changed param."""

    exit_code = 2
    http_status = 422

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class FilterSyntaxError(ValidationError):
    """A search filter that does not parse; ``position`` is the 0-based offset of the bad token."""

    def __init__(self, message: str, *, text: str, position: int) -> None:
        pointer = f"\n  {text}\n  {' ' * position}^"
        super().__init__(message + pointer, field="filter")
        self.text = text
        self.position = position


class MalformedRequestError(ValidationError):
    """A request body that cannot be read at all (not JSON, or not one of the accepted shapes)."""

    http_status = 400


class UnsupportedMediaTypeError(MalformedRequestError):
    """A request body declared as something other than JSON (``text/plain``, a form): refused before it is read,
    because those are the types a web page of another site can make a browser send without asking first."""

    http_status = 415


class TextEncodingError(ValidationError):
    """Bytes that are not text in the encoding they are read with (UTF-8 unless told): a data file, a metrics or
    params file, a request body. ``source`` names it, ``offset`` is the 0-based byte offset of the first bad byte,
    ``line`` its 1-based line, and for a CSV ``row`` (0-based, header excluded; None in the header) and ``column``."""

    http_status = 400

    def __init__(self, message: str, *, source: str, offset: int, encoding: str, line: int,
                 row: int | None = None, column: str | None = None, field: str | None = None) -> None:
        super().__init__(message, field=field or column)
        self.source = source
        self.offset = offset
        self.encoding = encoding
        self.line = line
        self.row = row
        self.column = column


class PayloadTooLargeError(ValidationError):
    """A request larger than the server accepts; ``limit`` is that limit (bytes of the body, or rows when
    ``field`` names the rows)."""

    http_status = 413

    def __init__(self, message: str, *, limit: int, field: str = "body") -> None:
        super().__init__(message, field=field)
        self.limit = limit


class RequestTimeoutError(ValidationError):
    """A request body that was not whole ``timeout_s`` seconds after its headers; the server closes the
    connection, since the rest of the body may still come."""

    http_status = 408

    def __init__(self, message: str, *, timeout_s: float) -> None:
        super().__init__(message, field="body")
        self.timeout_s = timeout_s


class ModelError(ValidationError):
    """The model raised on input that passed the signature checks (e.g. a value its encoder refuses): the request
    is answered 422 naming ``records``, and the server keeps serving."""


class NotFoundError(ShipyardError, LookupError):
    """The named run, experiment, artifact or object does not exist."""

    exit_code = 2
    http_status = 404


class AmbiguousError(ShipyardError, LookupError):
    """An abbreviated id matches more than one object; ``candidates`` lists some of them."""

    exit_code = 2
    http_status = 409

    def __init__(self, message: str, *, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class ConflictError(ShipyardError):
    """A write that contradicts what is stored, such as a run that has already ended."""

    exit_code = 2
    http_status = 409


class UnauthorizedError(ShipyardError, PermissionError):
    """A write to a shared server without the token it was started with; ``field`` names the part of the request
    that needed it (``request_id``), or is None when the whole request does."""

    exit_code = 2
    http_status = 401

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class ForbiddenError(ShipyardError, PermissionError):
    """A write the server refuses whoever asks: the web UI was started read-only, or the request came
    from a page of another site. No token changes that, unlike :class:`UnauthorizedError`."""

    exit_code = 2
    http_status = 403


class RoleError(ForbiddenError):
    """A team server's token whose role is below what the request needs; ``needed`` names that role."""

    def __init__(self, message: str, *, needed: str) -> None:
        super().__init__(message)
        self.needed = needed


class NotSupportedError(ShipyardError):
    """A well-formed request for something Shipyard does not do (an MLflow endpoint outside the supported subset):
    refused by name, never answered as if it had been done."""

    exit_code = 2
    http_status = 501


class IntegrityError(ShipyardError):
    """Stored bytes no longer hash to their address: the object was corrupted or tampered with."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, object_hash: str, path: str | None = None) -> None:
        super().__init__(message)
        self.object_hash = object_hash
        self.path = path


class StoreUnavailableError(ShipyardError, OSError):
    """The store's directory or database cannot be opened, read or written (a wrong location or a
    broken file the user must fix, hence the input-error exit code)."""

    exit_code = 2
    http_status = 503


class RemoteStoreError(StoreUnavailableError):
    """A remote object store (S3...) cannot be used: its bucket does not exist, it refused the credentials, or its
    endpoint does not answer. A failure of the world rather than of the input, hence exit 1; ``uri`` names the
    store."""

    exit_code = 1
    http_status = 503

    def __init__(self, message: str, *, uri: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.uri = uri


class TrackingServerError(StoreUnavailableError):
    """The tracking server (``SHIPYARD_TRACKING_URI``) did not answer, or kept answering "unavailable", for longer
    than the client's retries allow; ``url`` names the server. A failure of the world, hence exit 1."""

    exit_code = 1
    http_status = 503

    def __init__(self, message: str, *, url: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url


class NothingScoredError(ShipyardError):
    """Batch scoring set every row of a non-empty file aside as bad: a failure, not an empty success. ``rows`` is
    how many were read and ``errors_file`` where the refused rows are listed (no output file is written)."""

    exit_code = 1
    http_status = 422

    def __init__(self, message: str, *, rows: int, errors_file: str | None) -> None:
        super().__init__(message)
        self.rows = rows
        self.errors_file = errors_file


class ModelOutputError(ShipyardError):
    """A model answered what must never be returned: a probability or prediction that is not finite (NaN or
    infinity), for input that passed every check. The model's failure, not the caller's: exit 1, and HTTP 503 for
    the variant that answered (the server logs and counts it and keeps serving). ``row`` is the row of the input
    (0-based) and ``output`` what was not finite ("probability" or "prediction")."""

    exit_code = 1
    http_status = 503

    def __init__(self, message: str, *, row: int, output: str) -> None:
        super().__init__(message)
        self.row = row
        self.output = output


class StageFailedError(ShipyardError):
    """A pipeline stage's command failed (a non-zero exit, a notebook that raised, a metrics file it wrote
    badly); ``stage`` names it and ``tail`` holds its last output lines, which the CLI shows."""

    exit_code = 1

    def __init__(self, message: str, *, stage: str, tail: list[str]) -> None:
        super().__init__(message)
        self.stage = stage
        self.tail = tail


class VerificationError(ShipyardError):
    """The exported ONNX model does not answer like the original; ``mismatches`` lists the rows (the row, both
    labels, the largest probability difference and the input), and nothing was written."""

    exit_code = 1

    def __init__(self, message: str, *, mismatches: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.mismatches = mismatches


class CheckFailedError(ShipyardError):
    """A check ran and its answer is no: a candidate held back from promotion, an alert from monitoring. Exit 3, so
    scripts and CI can tell it from a failure (1) and from bad input (2). ``check`` names the check
    (``promotion``, ``monitoring``).

    The command that raises it has already printed its verdict (as text or JSON) on standard output, so the CLI
    prints no error line for it: the exit code is the whole message. No server raises it (a server answers a
    verdict in its body); 422, "understood, and the answer is no", is what one would answer.
    """

    exit_code = 3
    http_status = 422

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message)
        self.check = check


class MissingExtraError(ShipyardError, ImportError):
    """A feature needs an optional dependency that is not installed. ``extra`` is the extra that brings it
    (``serve``, ``sklearn``, ...), ``module`` the missing module and ``command`` the install line to run."""

    exit_code = 2
    http_status = 503

    def __init__(self, message: str, *, extra: str, module: str, command: str) -> None:
        super().__init__(message)
        self.extra = extra
        self.module = module
        self.command = command
