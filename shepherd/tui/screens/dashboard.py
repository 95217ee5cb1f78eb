"""The parent's dashboard: every child's entries, running sessions, requests, warnings.

Every action is a key here (and a command in the palette) and goes through a
confirmation that says exactly what will happen.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll

from shepherd.cli.remote import grant_sentence
from shepherd.tui import words
from shepherd.tui.screens.ask import Answer, AskScreen
from shepherd.tui.screens.base import ViewScreen
from shepherd.tui.widgets.entry_table import EntryTable, child_title
from shepherd.tui.widgets.line import Line
from shepherd.tui.widgets.request_list import RequestList
from shepherd.tui.widgets.row_table import RowTable
from shepherd.tui.widgets.session_list import SessionList
from shepherd.tui.widgets.warning_log import WarningLog

WIDE = 110  # columns from which the side panel sits beside the children


class DashboardScreen(ViewScreen):
    VIEW = "Now"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve",
                tooltip="Approve the highlighted request for more time (else the oldest)"),
        Binding("x", "decline", "Decline", show=False,
                tooltip="Decline the highlighted request (else the oldest); the child is told"),
        Binding("g", "grant", "Grant",
                tooltip="Give more time today: an entry or a group budget, with a reason"),
        Binding("s", "stop", "Stop", tooltip="Stop the highlighted (or the only) session"),
        Binding("e", "extend", "Extend", show=False,
                tooltip="Extend the highlighted running session (once per session)"),
        Binding("c", "clear_cooldown", "Clear rest", show=False,
                tooltip="End the rest (cooldown) of the highlighted entry now"),
        Binding("l", "lock", "Lock", show=False,
                tooltip="Lock the highlighted child: stop everything, nothing may start"),
        Binding("u", "unlock", "Unlock", show=False, tooltip="Unlock the highlighted child"),
    ]

    def body(self) -> ComposeResult:
        with VerticalScroll(id="dash"):
            with Vertical(id="side"):
                yield SessionList()
                yield RequestList()
                yield WarningLog()
            yield Vertical(id="children")
        yield Line("", id="explain", fixed=True)

    def on_mount(self) -> None:
        self.set_interval(1.0, self.tick)

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE, "-wide")

    def tick(self) -> None:
        if self.is_current and self.state.status is not None:
            self.redraw()

    # -- drawing ---------------------------------------------------------------
    def redraw(self) -> None:
        state = self.state
        if state.status is None:
            self.query_one("#explain", Line).show(
                "Waiting for the daemon…" if not state.problem else "")
            return
        mono = self.shepherd.clock()
        children = self.query_one("#children", Vertical)
        tables = {t.user: t for t in children.query(EntryTable)}
        names = [u["name"] for u in state.users()]
        if list(tables) != names:
            children.remove_children()
            tables = {name: EntryTable(name) for name in names}
            children.mount_all(tables.values())
            self.call_after_refresh(self._focus_first)
        for user in state.users():
            name = user["name"]
            tables[name].set_title(child_title(name, user["locked"],
                                               state.group_lines(name, mono)))
            tables[name].show_lines([state.entry_line(name, item, mono)
                                     for item in user["entries"]])
        self.query_one(SessionList).show_lines([state.session_line(s, mono)
                                                for s in state.sessions()])
        labels = {e["id"]: e["label"] for u in state.users() for e in u["entries"]}
        self.query_one(RequestList).show_requests(state.requests, labels)
        self.query_one(WarningLog).show_warnings(list(state.warnings),
                                                 limit=8 if self.has_class("-wide") else 3,
                                                 labels=labels)
        self._explain()

    def _focus_first(self) -> None:
        if not isinstance(self.focused, RowTable):
            tables = self.query(EntryTable)
            if tables:
                tables.first().focus()

    def _explain(self) -> None:
        focused = self.focused
        text = ""
        if isinstance(focused, EntryTable) and focused.selected_key:
            user, entry = focused.user, focused.selected_key
            found = self.state.user(user)
            item = next((e for e in (found or {}).get("entries", []) if e["id"] == entry), None)
            if item is not None:
                line = self.state.entry_line(user, item, self.shepherd.clock())
                text = f"{user} · {line.label}: {line.detail}"
        elif isinstance(focused, SessionList) and focused.selected_key:
            session = self.state.session(int(focused.selected_key))
            if session is not None:
                running = self.state.session_line(session, self.shepherd.clock())
                text = (f"{running.user} · {running.label}: {running.countdown} left, "
                        f"ends {running.ends}")
        elif isinstance(focused, RequestList) and focused.selected_key:
            text = "a approves this request, x declines it"
        if not text:
            text = "Tab: next table · 1 Now 2 Audit 3 History 4 Policy · ? every key"
        self.query_one("#explain", Line).show(text)

    def on_row_table_highlighted(self, event: RowTable.Highlighted) -> None:
        self._explain()

    def on_descendant_focus(self) -> None:
        self._explain()

    # -- what the keys act on ----------------------------------------------------
    def _selected_entry(self) -> tuple[str, str] | None:
        focused = self.focused
        if isinstance(focused, EntryTable) and focused.selected_key:
            return focused.user, focused.selected_key
        session = self._selected_session(fallback=False)
        if session is not None:
            return session["user"], session["entry"]
        return None

    def _selected_session(self, fallback: bool = True) -> dict[str, Any] | None:
        focused = self.focused
        state = self.state
        if isinstance(focused, SessionList) and focused.selected_key:
            return state.session(int(focused.selected_key))
        if isinstance(focused, EntryTable) and focused.selected_key:
            return state.session_of(focused.user, focused.selected_key)
        sessions = state.sessions()
        return sessions[0] if fallback and len(sessions) == 1 else None

    def _selected_user(self) -> str | None:
        focused = self.focused
        if isinstance(focused, EntryTable):
            return focused.user
        session = self._selected_session(fallback=False)
        if session is not None:
            return str(session["user"])
        users = self.state.users()
        return str(users[0]["name"]) if len(users) == 1 else None

    def _selected_request(self) -> dict[str, Any] | None:
        requests = self.state.requests
        focused = self.focused
        if isinstance(focused, RequestList) and focused.selected_key:
            found = [r for r in requests if str(r["id"]) == focused.selected_key]
            if found:
                return found[0]
        return requests[0] if requests else None

    def _say(self, text: str) -> None:
        self.notify(text, severity="warning")

    # -- actions -------------------------------------------------------------------
    def action_stop(self) -> None:
        session = self._selected_session()
        if session is None:
            self._say("Choose a running session first (Tab to the list of running sessions).")
            return
        line = self.state.session_line(session, self.shepherd.clock())
        detail = f"It has {line.countdown} left." if line.remaining_s is not None else ""
        self.shepherd.confirm_then(
            f"Stop {line.user}'s {line.label} now?", detail, "Stop",
            "stop", f"Stopped {line.user}'s {line.label}.", session_id=line.session_id)

    def action_grant(self) -> None:
        chosen = self._selected_entry()
        user = chosen[0] if chosen else self._selected_user()
        if user is None:
            self._say("Choose a child first (Tab to an entry of theirs).")
            return
        found = self.state.user(user) or {"entries": [], "groups": []}
        targets = [(str(e["label"]), str(e["id"])) for e in found["entries"]]
        targets += [(f"the {g['id']} budget", str(g["id"])) for g in found.get("groups", [])]
        if not targets:
            self._say(f"{user} has no entries.")
            return

        def asked(answer: Answer | None) -> None:
            if answer is None or answer.target is None:
                return
            is_group = any(g["id"] == answer.target for g in found.get("groups", []))
            label = next((name for name, value in targets if value == answer.target),
                         answer.target)
            label = label.removeprefix("the ").removesuffix(" budget") if is_group else label
            question, detail, yes = words.grant_question(user, label, answer.seconds, is_group,
                                                         answer.mode), "", "Give"
            if answer.mode == "add":
                detail = self.state.grant_consequence(user, answer.target, answer.seconds,
                                                      self.shepherd.clock())
            else:
                detail, yes = "Time already used today is never taken back.", "Change"
            self.shepherd.confirm_then(
                question, detail, yes, "grant", grant_sentence, user=user,
                target=answer.target, duration=answer.seconds, mode=answer.mode,
                reason=answer.text)

        self.app.push_screen(AskScreen(f"Time for {user} today", targets=targets,
                                       target=chosen[1] if chosen else None, signed=True),
                             asked)

    def action_extend(self) -> None:
        session = self._selected_session()
        if session is None:
            self._say("Choose a running session first.")
            return
        line = self.state.session_line(session, self.shepherd.clock())

        def asked(answer: Answer | None) -> None:
            if answer is None:
                return
            self.shepherd.confirm_then(
                f"Extend {line.user}'s {line.label} by {words.duration(answer.seconds)}?",
                "A session can be extended once. Its hours and group budgets still hold; "
                f"it now ends {line.ends}.", "Extend", "extend",
                f"Extended {line.user}'s {line.label}.",
                session_id=line.session_id, duration=answer.seconds)

        self.app.push_screen(AskScreen(f"Extend {line.user}'s {line.label}",
                                       text_label=None), asked)

    def action_clear_cooldown(self) -> None:
        chosen = self._selected_entry()
        if chosen is None:
            self._say("Choose a resting entry first.")
            return
        user, entry = chosen
        label = self.state.label(user, entry)
        self.shepherd.confirm_then(
            f"End {user}'s rest after {label} now?",
            f"{label} can start again at once if nothing else stops it.", "End the rest",
            "cooldown.clear", f"{user} may start {label} again.", user=user, entry=entry)

    def action_lock(self) -> None:
        user = self._selected_user()
        if user is None:
            self._say("Choose a child first.")
            return
        running = [s for s in self.state.sessions() if s["user"] == user]
        detail = (f"This stops {len(running)} running session(s) now, and nothing may start "
                  "until you unlock." if running else "Nothing may start until you unlock.")
        self.shepherd.confirm_then(f"Lock {user}?", detail, "Lock", "lock",
                                   f"{user} is locked.", user=user)

    def action_unlock(self) -> None:
        user = self._selected_user()
        if user is None:
            self._say("Choose a child first.")
            return
        self.shepherd.confirm_then(f"Unlock {user}?",
                                   "Entries may start again within their limits.", "Unlock",
                                   "unlock", f"{user} is unlocked.", user=user)

    def action_approve(self) -> None:
        request = self._selected_request()
        if request is None:
            self._say("No child is asking for more time.")
            return
        user, entry, seconds = request["user"], request["entry"], int(request["seconds"])
        label = self.state.label(user, entry)
        note = (f"Their note: “{escape(str(request['note']))}”. " if request.get("note")
                else "")
        detail = note + self.state.grant_consequence(user, entry, seconds, self.shepherd.clock())
        self.shepherd.confirm_then(
            words.grant_question(user, label, seconds, False), detail.strip(), "Approve",
            "request.answer", f"Approved: {user} has {words.duration(seconds)} more of {label}.",
            request_id=request["id"], answer="approve")

    def action_decline(self) -> None:
        request = self._selected_request()
        if request is None:
            self._say("No child is asking for more time.")
            return
        label = self.state.label(request["user"], request["entry"])
        self.shepherd.confirm_then(
            f"Decline {request['user']}'s request for {words.duration(request['seconds'])} "
            f"more of {label}?", f"{request['user']} will be told.", "Decline",
            "request.answer", "Declined; they will be told.",
            request_id=request["id"], answer="decline")
