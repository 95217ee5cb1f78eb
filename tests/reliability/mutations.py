"""Mutations of a policy file, as a careless parent or a fuzzer would make them.

Each mutation changes the text a little: a line deleted, doubled or moved, a
value replaced by one of another type or out of range, a key renamed, a table
header broken, a character flipped, the text cut short, bytes that are not
UTF-8. ``mutate`` applies one to three of them.
"""

from __future__ import annotations

import random
import re

VALUES = ['""', '"x"', "0", "-1", "1e309", "99999999999999999999999999", "-0.0", "true",
          "[]", "[1, \"a\"]", "{}", "{ a = 1 }", '"-5m"', '"0s"', '"25:00"', '"23:59-00:00"',
          '"1h-30m"', '"mon..sun"', '"\\u0000"', '"\U0001f600"', '"' + "9" * 400 + '"',
          '"99999999999d"', '"1.5h"', '"nan"', "nan", "inf", '"/"', '["sleep"]', "[[]]",
          '"1970-01-01"', "1979-05-27T07:32:00Z", '"weekdays"', '"P1D"', '"soon"']
KEYS = ["id", "users", "command", "limits", "daily_quota", "max_run", "cooldown", "windows",
        "warnings", "before", "groups", "name", "version", "detect", "exe", "cmdline",
        "day_starts_at", "week_starts_on", "stop_grace", "on_restart", "admin_group",
        "max_sessions", "title", "weekly_quota", "entries", "supervisor", "x", "Id", ""]


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _delete(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def _double(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    at = rng.randrange(len(lines))
    lines.insert(at, lines[at])
    return "\n".join(lines)


def _move(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    line = lines.pop(rng.randrange(len(lines)))
    lines.insert(rng.randrange(len(lines) + 1), line)
    return "\n".join(lines)


def _value(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    assigned = [n for n, line in enumerate(lines) if re.match(r"\s*[\w\"-]+\s*=", line)]
    if not assigned:
        return text
    n = rng.choice(assigned)
    key = lines[n].split("=", 1)[0]
    lines[n] = f"{key}= {rng.choice(VALUES)}"
    return "\n".join(lines)


def _inline_value(rng: random.Random, text: str) -> str:
    """A value inside an inline table or array (``limits = { max_run = "1h" }``)."""
    spots = [m.span() for m in re.finditer(r'"[^"\n]*"|\b\d+\b', text)]
    if not spots:
        return text
    start, end = rng.choice(spots)
    return text[:start] + rng.choice(VALUES) + text[end:]


def _key(rng: random.Random, text: str) -> str:
    spots = [m.span(1) for m in re.finditer(r"^\s*(\w+)\s*=", text, re.M)]
    spots += [m.span(1) for m in re.finditer(r"[{,]\s*(\w+)\s*=", text)]
    if not spots:
        return text
    start, end = rng.choice(spots)
    return text[:start] + rng.choice(KEYS) + text[end:]


def _header(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(
        ["[[entries]]", "[supervisor]", "[[users]]", "[entries]", "[[groups]]", "[limits]",
         "[[entries.warnings]]", "[household]", "[", "[[x]]", "[supervisor.x]"]))
    return "\n".join(lines)


def _flip(rng: random.Random, text: str) -> str:
    if not text:
        return text
    at = rng.randrange(len(text))
    return text[:at] + rng.choice('="[]{},.#\n\t\\ 0aZ\x00\x7f\u00e9\u202e') + text[at + 1:]


def _cut(rng: random.Random, text: str) -> str:
    return text[:rng.randrange(len(text) + 1)]


MUTATIONS = [_delete, _double, _move, _value, _value, _inline_value, _inline_value, _key,
             _header, _flip, _cut]


def mutate(rng: random.Random, text: str) -> bytes:
    """One to three mutations; sometimes bytes that are not UTF-8 besides."""
    for _ in range(rng.randint(1, 3)):
        text = rng.choice(MUTATIONS)(rng, text)
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.03:
        at = rng.randrange(len(data) + 1)
        data = data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]) + data[at:]
    return data
