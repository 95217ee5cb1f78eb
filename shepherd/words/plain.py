"""Text from someone else, made safe to show on a terminal.

A child's request note, an entry name a child typed, or a label in the policy may hold
control characters: an escape sequence would set the parent's terminal title, clear the
screen, recolour or overwrite a line, or (on some terminals) write the clipboard. Shown
through ``plain`` each such character is written out visibly instead (``\\x1b``), and
the rest of the text is kept as it is.
"""

from __future__ import annotations

import re

# C0 and C1 control characters and DEL (line breaks and tabs are kept by ``plain_lines``),
# and the invisible characters that reorder or hide text (bidirectional overrides,
# isolates, zero-width joiners are harmless and kept).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f"
                              "\u202a-\u202e\u2066-\u2069]|\r(?!\n)")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(text: str) -> str:
    """One line of text with every control character written out (``\\x1b``, ``\\n``
    too): for a field in a table."""
    return _UNSAFE.sub(_visible, text)


def plain_lines(text: str) -> str:
    """Text whose line breaks (``\\n``, ``\\r\\n``, as CSV ends its rows) and tabs are
    kept, every other control character written out: for whole output written to a
    terminal. A lone ``\\r`` (which would overwrite the line) is written out."""
    return _UNSAFE_IN_LINES.sub(_visible, text)


def json_safe(text: str) -> str:
    """JSON text with the control characters JSON leaves raw (DEL, C1, bidirectional
    overrides) written as ``\\u`` escapes: the same data, safe on a terminal."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# A line break of any kind, with the blank space around it (blank lines fold into one).
_BREAKS = re.compile("[ \t]*(?:\r\n|[\n\r\x0b\x0c\x85\u2028\u2029])\\s*")


def one_line(text: str, width: int | None = None) -> str:
    """Someone else's text (a child's note) on one line: each line break shown as ``⏎``,
    tabs as spaces, every other control character written out, and cut to ``width``
    characters with ``…``. Whoever wrote it cannot push what is shown after it out of
    sight, nor make it look like lines of the screen's own."""
    folded = plain(_BREAKS.sub(" ⏎ ", text.strip()).replace("\t", " "))
    if width is not None and len(folded) > width:
        folded = folded[:max(width - 1, 0)].rstrip() + "…"
    return folded
