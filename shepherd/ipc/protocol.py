"""JSON-RPC 2.0 over newline-delimited UTF-8 JSON: the one codec for server and client.

One JSON text per line: a request at most ``MAX_LINE`` bytes, an answer or event at most
``MAX_ANSWER`` bytes (the daemon replaces a larger answer by an error), which is what
both clients read. Requests, notifications
(no ``id``) and batches follow the JSON-RPC 2.0 specification.
"""

from __future__ import annotations

import json
import re
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
    the server encodes it once for all of their answers. Never changed once handed out."""


def encode(message: Any) -> bytes:
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)
    # A lone surrogate is not UTF-8: written as its JSON escape (``\ud800``), never lost.
    return text.encode("utf-8", "backslashreplace") + b"\n"


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
    except ValueError as exc:  # int() refuses thousands of digits
        raise RpcError(PARSE_ERROR, f"a number in the JSON is too large: {exc}") from None
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
