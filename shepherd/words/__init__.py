"""Shepherd's words: the one renderer of what a parent or a child reads.

Turns durations, moments, refusal reasons, entry states and warnings into short
plain sentences ("Minecraft can't start: the games budget for today is used up
(back tomorrow at 04:00), and it needs a rest until 10:01"). Every function is
pure: the current time and the time zone are passed in, nothing is read from
the machine. Reasons are accepted as the engine's ``Reason`` objects or as
their JSON (what the IPC carries), so the daemon, the CLI and the TUI all say
the same thing. Codes stay in ``--json``; this module never replaces them.
"""

from shepherd.words.grants import (
    answer_notes,
    budget_note,
    cap_sentence,
    expiry_sentence,
    grant_answer,
    grant_notes,
    grant_sentence,
    granted_words,
    lock_note,
    result_notes,
)
from shepherd.words.limits import day_own_left, extension_end, stop_clause, week_left
from shepherd.words.plain import json_safe, one_line, plain, plain_lines
from shepherd.words.presence import (
    cause_words,
    counting_sentence,
    flapping_sentence,
    pause_clause,
    resumed_clause,
    unfrozen_clause,
)
from shepherd.words.refusals import (
    STATE_WORDS,
    busy_program_note,
    join_clauses,
    lasting_state,
    not_installed_clause,
    not_runnable_clause,
    program_name,
    reason_clause,
    reasons_clause,
    refusal_sentence,
    state_word,
    warning_text,
)
from shepherd.words.times import (
    and_list,
    at_moment,
    boundary_sentence,
    clock_time,
    counted,
    format_duration,
    spoken_duration,
    until_moment,
)

__all__ = [
    "STATE_WORDS",
    "and_list",
    "answer_notes",
    "at_moment",
    "boundary_sentence",
    "budget_note",
    "busy_program_note",
    "cap_sentence",
    "cause_words",
    "clock_time",
    "counted",
    "counting_sentence",
    "day_own_left",
    "expiry_sentence",
    "extension_end",
    "flapping_sentence",
    "format_duration",
    "grant_answer",
    "grant_notes",
    "grant_sentence",
    "granted_words",
    "join_clauses",
    "json_safe",
    "lasting_state",
    "lock_note",
    "not_installed_clause",
    "not_runnable_clause",
    "one_line",
    "pause_clause",
    "plain",
    "plain_lines",
    "program_name",
    "reason_clause",
    "reasons_clause",
    "refusal_sentence",
    "result_notes",
    "resumed_clause",
    "spoken_duration",
    "state_word",
    "stop_clause",
    "unfrozen_clause",
    "until_moment",
    "warning_text",
    "week_left",
]
