"""Map a dotted path in a TOML document to the line where it is written.

``tomllib`` reports positions only for syntax errors, so this small scanner walks
a document that ``tomllib`` already accepted and records, for every key, table
header and array element, the line it starts on. It understands what a policy
uses (tables, arrays of tables, dotted and quoted keys, inline tables, arrays,
every string form, comments) and never raises: an error is always reported,
with the nearest line it can find.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

PathPart = str | int
Path = tuple[PathPart, ...]

_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[Path, int] = {}
        self.table: Path = ()
        self.aot_count: dict[Path, int] = {}

    # -- characters ---------------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self.pos < len(self.text):
                if self.text[self.pos] == "\n":
                    self.line += 1
                self.pos += 1

    def skip_blank(self, newlines: bool) -> None:
        while self.pos < len(self.text):
            char = self.peek()
            if char in " \t\r" or (newlines and char == "\n"):
                self.advance()
            elif char == "#":
                while self.pos < len(self.text) and self.peek() != "\n":
                    self.advance()
            else:
                return

    def record(self, path: Path, line: int) -> None:
        self.lines.setdefault(path, line)

    # -- grammar ------------------------------------------------------------
    def document(self) -> None:
        while True:
            self.skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.peek() == "[":
                self.header()
            else:
                self.key_value(self.table)

    def header(self) -> None:
        line = self.line
        is_array = self.peek(1) == "["
        self.advance(2 if is_array else 1)
        keys = self.keys()
        self.advance(2 if is_array else 1)
        resolved: Path = ()
        for key in keys[:-1]:
            resolved += (key,)
            if resolved in self.aot_count:
                resolved += (self.aot_count[resolved],)
        resolved += (keys[-1],)
        self.record(resolved, line)
        if is_array:
            index = self.aot_count.get(resolved, -1) + 1
            self.aot_count[resolved] = index
            resolved += (index,)
            self.record(resolved, line)
        self.table = resolved

    def keys(self) -> list[str]:
        keys: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            char = self.peek()
            if char in ('"', "'"):
                keys.append(self.string())
            else:
                start = self.pos
                while self.peek() and self.peek() in _BARE_KEY_CHARS:
                    self.advance()
                keys.append(self.text[start : self.pos])
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return keys
            self.advance()

    def key_value(self, base: Path) -> None:
        line = self.line
        path = base + tuple(self.keys())
        self.record(path, line)
        self.skip_blank(newlines=False)
        if self.peek() == "=":
            self.advance()
        self.value(path)

    def value(self, path: Path) -> None:
        self.skip_blank(newlines=False)
        char = self.peek()
        if char in ('"', "'"):
            self.string()
        elif char == "{":
            self.advance()
            while self.pos < len(self.text):
                self.skip_blank(newlines=True)
                if self.peek() == "}":
                    self.advance()
                    return
                if self.peek() == ",":
                    self.advance()
                    continue
                self.key_value(path)
        elif char == "[":
            self.advance()
            index = 0
            while self.pos < len(self.text):
                self.skip_blank(newlines=True)
                if self.peek() == "]":
                    self.advance()
                    return
                if self.peek() == ",":
                    self.advance()
                    index += 1
                    continue
                self.record((*path, index), self.line)
                self.value((*path, index))
        else:
            while self.peek() and self.peek() not in ",]}\n#":
                self.advance()

    def string(self) -> str:
        quote = self.peek()
        triple = self.peek(1) == quote and self.peek(2) == quote
        self.advance(3 if triple else 1)
        start = self.pos
        while self.pos < len(self.text):
            char = self.peek()
            if char == "\\" and quote == '"':
                self.advance(2)
                continue
            if char == quote and (not triple or (self.peek(1) == quote and self.peek(2) == quote)):
                # A multi-line string may end with up to two extra quotes.
                if triple:
                    while self.peek(3) == quote:
                        self.advance()
                end = self.pos
                self.advance(3 if triple else 1)
                return self.text[start:end]
            if char == "\n" and not triple:
                break
            self.advance()
        return self.text[start : self.pos]


def line_map(text: str) -> dict[Path, int]:
    """Every path the document writes, with the 1-based line it starts on."""
    scanner = _Scanner(text)
    with contextlib.suppress(IndexError, ValueError):  # never expected on valid TOML
        scanner.document()
    return scanner.lines


class LineMap(Mapping[Path, int]):
    """``line_map(text)``, worked out when first asked: only a problem needs a line, and
    scanning a large policy costs more than parsing it (a 1,000-entry policy: 0.5 s)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines: dict[Path, int] | None = None

    @property
    def scanned(self) -> bool:
        return self._lines is not None

    def _map(self) -> dict[Path, int]:
        if self._lines is None:
            self._lines = line_map(self._text)
        return self._lines

    def __getitem__(self, path: Path) -> int:
        return self._map()[path]

    def __iter__(self) -> Iterator[Path]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())


def find_line(lines: Mapping[Path, int], path: Sequence[PathPart]) -> int:
    """The line of ``path``, or of its longest written prefix; 1 when nothing matches."""
    for length in range(len(path), 0, -1):
        line = lines.get(tuple(path[:length]))
        if line is not None:
            return line
    return 1
