"""JSON-RPC 2.0 over newline-delimited UTF-8 JSON: the one codec for server and client.

One JSON text per line: a request at most ``MAX_LINE`` bytes, an answer or event at most
``MAX_ANSWER`` bytes (the daemon replaces a larger answer by an error), which is what
both clients read. Requests, notifications
(no ``id``) and batches follow the JSON-RPC 2.0 specification.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = 1


def parents_socket_path(path: Path) -> Path:
    """The parents' own socket beside the daemon's ``path`` (system mode; only root and
    the admin group may open it, so no flood can queue in front of a parent there):
    ``shepherd.sock`` → ``shepherd-parents.sock``."""
    return path.with_name(f"{path.stem}-parents{path.suffix}")


MAX_LINE = 64 * 1024  # what the daemon reads: one request
MAX_ANSWER = 1024 * 1024  # what a client reads: one answer or event from the daemon

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Application errors (the server-defined range).
FORBIDDEN = -32001
LAUNCH_DENIED = -32002
NOT_FOUND = -32004
STORE_UNAVAILABLE = -32005
RATE_LIMITED = -32010
LINE_TOO_LONG = -32011
TOO_MANY_CONNECTIONS = -32012
TOO_MUCH_UNREAD = -32013
ANSWER_TOO_LARGE = -32014
ALREADY_DONE = -32015  # an action_id the store already holds: not done again
ACTION_REFUSED = -32016  # the rules do not allow it (a session extended a second time)
POLICY_REJECTED = -32020  # a reload found errors: the old policy stays in force

JsonId = str | int | None


class RpcError(Exception):
    """An error to answer with: code, message and optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(frozen=True)
class Request:
    method: str
    params: dict[str, Any]
    id: JsonId
    is_notification: bool


class SharedResult(dict[str, Any]):
    """A result handed unchanged to several callers (``status`` asked in the same turn):
    the server encodes it once for all of their answers (``encoded``, which takes each
    ``Encoded`` part's kept bytes). Never changed once handed out."""

    def encoded(self) -> bytes:
        """``encode(self)`` without its newline, byte for byte."""
        return _spliced(self) or _dumps(self)


class Encoded(dict[str, Any]):
    """A JSON object that keeps its own encoding, for the answers it is part of
    (``status`` keeps each entry's line from one answer to the next: issue 13). It can
    be read as any dict but not changed (its bytes would no longer say it): changing
    raises ``TypeError``; a copy (``dict(line)``) is a plain dict. Its values are never
    changed either (they are the caller's promise, as a ``SharedResult``'s are)."""

    __slots__ = ("encoded",)

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.encoded = _dumps(self)  # ``encode(self)`` without its newline

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("an Encoded object is never changed: change a copy (dict(it))")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only


class EncodedList(list[Any]):
    """A list of JSON values laid out as runs of kept bytes and items worked out anew
    (``status``: a child's entries, most of them kept lines, from one answer to the next:
    issue 13). ``layout`` says it in order: ``bytes``, the encodings of a run of items
    joined by commas, or an ``int``, the index of an item encoded at each answer; the
    caller promises the runs are the encodings of the items they stand for. It can be
    read as any list but not changed (its runs would no longer say it): changing raises
    ``TypeError``; a copy (``list(it)``) is a plain list."""

    __slots__ = ("layout",)

    def __init__(self, items: Any, layout: tuple[bytes | int, ...]) -> None:
        super().__init__(items)
        self.layout = layout

    @staticmethod
    def layout_of(kept: Sequence[Encoded | None]) -> tuple[bytes | int, ...]:
        """The layout of a list whose items are ``kept`` (None: an item encoded at each
        answer): each run of kept items' bytes joined, each other item by its index."""
        layout: list[bytes | int] = []
        run: list[bytes] = []
        for n, item in enumerate(kept):
            if item is not None:
                run.append(item.encoded)
                continue
            if run:
                layout.append(b",".join(run))
                run = []
            layout.append(n)
        if run:
            layout.append(b",".join(run))
        return tuple(layout)

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("an EncodedList is never changed: change a copy (list(it))")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only


def _dumps(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    # A lone surrogate is not UTF-8: written as its JSON escape (``\ud800``), never lost.
    # (Per character, so the encoding of parts joined is the parts' encodings joined.)
    return text.encode("utf-8", "backslashreplace")


def _spliced(value: Any) -> bytes | None:
    """``_dumps(value)``, with each ``Encoded`` inside it written from its kept bytes;
    None: there is none inside (``_dumps`` it). The parts around the kept ones are
    encoded together, a run of a dict's items or of a list's items at a time, so the
    bytes are the very ones ``json.dumps`` writes for the whole (objects whose keys
    are all strings; any other is encoded whole, its ``Encoded`` parts by their items)."""
    if isinstance(value, Encoded):
        return value.encoded
    if isinstance(value, EncodedList):
        # An item worked out anew is encoded whole (the same bytes, kept parts or not:
        # looking into it for them costs more than it saves)
        return b"[" + b",".join(
            piece if isinstance(piece, bytes) else _dumps(value[piece])
            for piece in value.layout) + b"]"
    if isinstance(value, dict):
        found = {key: part for key, item in value.items()
                 if isinstance(item, _INSIDE) and (part := _spliced(item)) is not None}
        if not found or not all(isinstance(key, str) for key in value):
            return None
        out: list[bytes] = []
        run: dict[str, Any] = {}
        for key, item in value.items():
            part = found.get(key)
            if part is None:
                run[key] = item
                continue
            if run:
                out.append(_dumps(run)[1:-1])
                run = {}
            out.append(_dumps(key) + b":" + part)
        if run:
            out.append(_dumps(run)[1:-1])
        return b"{" + b",".join(out) + b"}"
    if isinstance(value, list):
        at: dict[int, bytes] = {}
        for n, item in enumerate(value):
            if isinstance(item, Encoded):
                at[n] = item.encoded
            elif isinstance(item, _INSIDE) and (part := _spliced(item)) is not None:
                at[n] = part
        if not at:
            return None
        out = []
        start = 0  # the first item of the run not yet written
        for n, part in at.items():
            if start < n:
                out.append(_dumps(value[start:n])[1:-1])
            out.append(part)
            start = n + 1
        if start < len(value):
            out.append(_dumps(value[start:])[1:-1])
        return b"[" + b",".join(out) + b"]"
    return None


_INSIDE = (dict, list)  # what may hold an ``Encoded``


def encode(message: Any) -> bytes:
    return _dumps(message) + b"\n"


def response(request_id: JsonId, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_response(request_id: JsonId, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def request(request_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def result_of(message: dict[str, Any]) -> Any:
    """A response's ``result``; its ``error`` raised as ``RpcError``."""
    if "error" in message:
        error = message["error"] if isinstance(message["error"], dict) else {}
        raise RpcError(int(error.get("code", 0)), str(error.get("message", "")),
                       error.get("data"))
    return message.get("result")


def parse_request(item: Any) -> Request:
    """One request object; ``RpcError(INVALID_REQUEST)`` when it is not one."""
    if not isinstance(item, dict):
        raise RpcError(INVALID_REQUEST, "a request must be a JSON object")
    request_id = item.get("id")
    if "id" in item and not isinstance(request_id, str | int) and request_id is not None:
        raise RpcError(INVALID_REQUEST, "id must be a string, a number or null")
    if isinstance(request_id, bool):
        raise RpcError(INVALID_REQUEST, "id must be a string, a number or null")
    if item.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, 'jsonrpc must be "2.0"')
    method = item.get("method")
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "method must be a non-empty string")
    params = item.get("params", {})
    if isinstance(params, list):
        raise RpcError(INVALID_PARAMS, "params must be an object (named parameters)")
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object")
    return Request(method, params, request_id, "id" not in item)


def parse_line(line: bytes) -> Any:
    """The decoded JSON value of a line; ``RpcError(PARSE_ERROR)`` when it is not JSON.

    Also for JSON that Python will not hold: nesting deeper than the parser's
    recursion limit, and integers of more digits than ``int`` converts.
    """
    try:
        value = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise RpcError(PARSE_ERROR, "the line is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RpcError(PARSE_ERROR, f"not JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise RpcError(PARSE_ERROR, "the JSON is nested too deeply") from None
    except ValueError:  # int() refuses thousands of digits (its words are a programmer's)
        raise RpcError(PARSE_ERROR, "a number in the JSON is too large (more than "
                       f"{sys.get_int_max_str_digits()} digits)") from None
    if _SURROGATE_ESCAPE.search(line) and _holds_lone_surrogate(value):
        raise RpcError(PARSE_ERROR, "a string in the JSON holds a lone surrogate (an escape "
                       "from \\ud800 to \\udfff not in a pair): it is not text")
    return value


# An escape of a surrogate (a hint only: a pair is text, and "\\ud800" is not an escape).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _holds_lone_surrogate(value: Any) -> bool:
    """True when a string in the value (a key too) is not valid Unicode text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False
