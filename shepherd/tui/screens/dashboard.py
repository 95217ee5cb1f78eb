"""The parent's dashboard: every child's entries, running sessions, requests, warnings.

Every action is a key here (and a command in the palette) and goes through a
confirmation that says exactly what will happen.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll

from shepherd.cli.remote import grant_sentence
from shepherd.ipc.protocol import RpcError
from shepherd.tui import words
from shepherd.tui.link import NotConnected
from shepherd.tui.screens.ask import Answer, AskScreen
from shepherd.tui.screens.base import ViewScreen
from shepherd.tui.screens.confirm import Check, Question
from shepherd.tui.widgets.entry_table import EntryTable, child_title
from shepherd.tui.widgets.line import Line
from shepherd.tui.widgets.request_list import RequestList
from shepherd.tui.widgets.row_table import RowTable
from shepherd.tui.widgets.session_list import SessionList
from shepherd.tui.widgets.warning_log import WarningLog

WIDE = 110  # columns from which the side panel sits beside the children
NOT_YET = "Nothing can be done until the daemon answers."


def answered_first(action: Callable[[DashboardScreen], None]) -> Callable[[DashboardScreen], None]:
    """A key that acts on the daemon's picture: until the daemon has answered once, it
    says so (instead of "choose a child first" of children not yet known)."""
    @functools.wraps(action)
    def run(screen: DashboardScreen) -> None:
        if screen.state.hello is None:
            screen.notify(NOT_YET, severity="warning")
            return
        action(screen)
    return run


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
        self.query_one("#dash").display = state.status is not None  # no empty panes
        if state.status is None:
            self.query_one("#explain", Line).show(
                "Waiting for the daemon…" if not state.problem else
                "Nothing to show until the daemon answers.")
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
            if tables:  # the view opens at its top (the running sessions), not scrolled
                tables.first().focus(scroll_visible=False)

    def _explain(self) -> None:
        focused = self.focused
        text = ""
        if isinstance(focused, EntryTable) and focused.selected_key:
            user, entry = focused.user, focused.selected_key
            found = self.state.user(user)
            item = next((e for e in (found or {}).get("entries", []) if e["id"] == entry), None)
            if item is not None:
                line = self.state.entry_line(user, item, self.shepherd.clock())
                # the detail names the entry itself ("Nap can't start: …"): said once
                text = f"{user} · {words.bottom_line(line.label, line.detail)}"
        elif isinstance(focused, SessionList) and focused.selected_key:
            session = self.state.session_by_key(focused.selected_key)
            if session is not None:
                text = self.state.session_line(session, self.shepherd.clock()).sentence
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
            return state.session_by_key(focused.selected_key)
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
    # Each question is made by a ``check`` that the dialog asks again while it waits,
    # so what it says stays true (a countdown, a session that ended meanwhile).

    def _ask(self, check: Check, yes: str, method: str, done: str | Callable[[Any], str],
             quote: tuple[str, str] | None = None, **params: Any) -> None:
        now = check()
        if isinstance(now, str):  # nothing to do already
            self._say(now)
            return
        self.shepherd.confirm_then(now[0], now[1], yes, method, done, check=check, quote=quote,
                                   **params)

    def _no_session(self) -> str:
        if not self.state.sessions():
            return "Nothing is running."
        return "Choose a running session first (Tab to the list of running sessions)."

    @answered_first
    def action_stop(self) -> None:
        session = self._selected_session()
        if session is None:
            self._say(self._no_session())
            return
        line = self.state.session_line(session, self.shepherd.clock())
        if line.elsewhere:
            self._say(f"That session runs on {line.elsewhere}: stop it from there.")
            return
        session_id, user = int(session["id"]), str(session["user"])
        label = self.state.label(user, str(session["entry"]))

        def check() -> Question | str:
            running = self.state.session(session_id)
            if running is None:
                return f"{user}'s {label} has already ended: there is nothing to stop."
            line = self.state.session_line(running, self.shepherd.clock())
            detail = f"It has {line.countdown} left." if line.remaining_s is not None else ""
            found = self.state.user(user) or {"entries": []}
            item: dict[str, Any] = next(
                (e for e in found["entries"] if e["id"] == running["entry"]), {})
            if item.get("cooldown_s"):  # what follows the stop (review 11 s7 D9)
                rest = words.spoken_duration(item["cooldown_s"])
                detail += f" Then {label} rests for {rest} before it can start again."
            return f"Stop {user}'s {label} now?", detail.strip()

        self._ask(check, "Stop", "stop", f"Stopped {user}'s {label}.", session_id=session_id)

    @answered_first
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
            target, seconds, mode = answer.target, answer.seconds, answer.mode
            is_group = any(g["id"] == target for g in found.get("groups", []))
            label = next((name for name, value in targets if value == target), target)
            label = label.removeprefix("the ").removesuffix(" budget") if is_group else label
            until = answer.until
            question = words.grant_question(user, label, seconds, is_group, mode, until)

            def check() -> Question | str:
                mono = self.shepherd.clock()
                if mode == "add":
                    return question, self.state.grant_consequence(user, target, seconds, mono)
                return question, " ".join(filter(None, [
                    "Time already used today is never taken back.",
                    self.state.take_consequence(user, target, seconds, mode, mono)]))

            lasting: dict[str, Any] = {"until": until} if until != "today" else {}
            params = dict(user=user, target=target, duration=seconds, mode=mode,
                          reason=answer.text, **lasting)

            def ask() -> None:
                self._ask(check, "Give" if mode == "add" else "Change", "grant",
                          grant_sentence, **params)

            if until in ("today", "week"):
                ask()
            else:  # a time: the daemon's calendar says whether it is still to come
                self.run_worker(self._then_if_allowed("grant", params, ask), group="actions")

        self.shepherd.ask(AskScreen(f"Time for {user}", targets=targets,
                                    target=chosen[1] if chosen else None, signed=True),
                          asked)

    @answered_first
    def action_extend(self) -> None:
        session = self._selected_session()
        if session is None:
            self._say(self._no_session())
            return
        line = self.state.session_line(session, self.shepherd.clock())
        if line.elsewhere:
            self._say(f"That session runs on {line.elsewhere}: extend it from there.")
            return
        session_id, user = int(session["id"]), str(session["user"])
        label = self.state.label(user, str(session["entry"]))

        def asked(answer: Answer | None) -> None:
            if answer is not None:
                self.run_worker(self._ask_extend(session_id, user, label, answer.seconds),
                                group="actions")

        self.shepherd.ask(AskScreen(f"Extend {user}'s {label}", text_label=None), asked)

    async def _then_if_allowed(self, method: str, params: dict[str, Any],
                               then: Callable[[], None]) -> None:
        """Ask the question only if the daemon's preview of the action (nothing is
        written) does not refuse it: a grant "until 05:00" at 05:11 is refused in the
        daemon's words before the parent is asked, not after their yes."""
        try:
            await self.shepherd.link.call(method, preview=True, **params)
        except RpcError as exc:
            self._say(self.shepherd.explain(exc))
            return
        except NotConnected as exc:
            self._say(f"Not done: {exc}.")
            return
        then()

    async def _ask_extend(self, session_id: int, user: str, label: str, seconds: int) -> None:
        """Ask the daemon what the extension would do (nothing is written), then ask the
        parent in those words: the new end, and what still ends it then."""
        try:
            would = await self.shepherd.link.call("extend", session_id=session_id,
                                                  duration=seconds, preview=True)
        except RpcError as exc:  # already extended, no time limit, ended meanwhile
            self._say(self.shepherd.explain(exc))
            return
        except NotConnected as exc:
            self._say(f"Not done: {exc}.")
            return

        def check() -> Question | str:
            if self.state.session(session_id) is None:
                return f"{user}'s {label} has already ended: there is nothing to extend."
            now = self.state.now(self.shepherd.clock())
            return (f"Extend {user}'s {label} by {words.duration(seconds)}?",
                    "A session can be extended once; more time after that is a grant. "
                    f"It would then end {words.extension_end(would, now)}.")

        def done(result: dict[str, Any]) -> str:
            now = self.state.now(self.shepherd.clock())
            return f"Extended {user}'s {label}: it now ends {words.extension_end(result, now)}."

        self._ask(check, "Extend", "extend", done, session_id=session_id, duration=seconds)

    @answered_first
    def action_clear_cooldown(self) -> None:
        chosen = self._selected_entry()
        if chosen is None:
            self._say("Choose a resting entry first.")
            return
        user, entry = chosen
        label = self.state.label(user, entry)

        def check() -> Question | str:
            found = self.state.user(user) or {"entries": []}
            item = next((e for e in found["entries"] if e["id"] == entry), None)
            if item is None or not item.get("cooldown_until"):
                return f"{label} is not resting: there is no rest to end."
            others = [r for r in item["reasons"] if r.get("code") != "cooldown"]
            if others:  # what still holds it once the rest is over
                now = self.state.now(self.shepherd.clock())
                detail = f"Even then, {words.refusal(label, others, now)}."
            else:
                detail = f"{label} can start again at once."
            return f"End {user}'s rest after {label} now?", detail

        self._ask(check, "End the rest", "cooldown.clear",
                  f"The rest after {label} is over for {user}.", user=user, entry=entry)

    @answered_first
    def action_lock(self) -> None:
        user = self._selected_user()
        if user is None:
            self._say("Choose a child first.")
            return

        def check() -> Question | str:
            if (self.state.user(user) or {}).get("locked"):
                return f"{user} is already locked."
            running = [s for s in self.state.sessions() if s["user"] == user]
            stops = ("its running session" if len(running) == 1
                     else f"its {len(running)} running sessions")
            detail = (f"This stops {stops} now, and nothing may start until you unlock."
                      if running else "Nothing may start until you unlock.")
            return f"Lock {user}?", detail

        self._ask(check, "Lock", "lock", f"{user} is locked.", user=user)

    @answered_first
    def action_unlock(self) -> None:
        user = self._selected_user()
        if user is None:
            self._say("Choose a child first.")
            return

        def check() -> Question | str:
            if not (self.state.user(user) or {}).get("locked"):
                return f"{user} is not locked."
            return f"Unlock {user}?", "Entries may start again within their limits."

        self._ask(check, "Unlock", "unlock", f"{user} is unlocked.", user=user)

    def _request_check(self, request_id: Any,
                       ask: Callable[[dict[str, Any]], Question]) -> Callable[[], Question | str]:
        def check() -> Question | str:
            request = next((r for r in self.state.requests if r["id"] == request_id), None)
            if request is None:
                return words.answered_elsewhere(self.state.answered.get(int(request_id)))
            return ask(request)
        return check

    @answered_first
    def action_approve(self) -> None:
        request = self._selected_request()
        if request is None:
            self._say("No child is asking for more time.")
            return
        user, entry, seconds = request["user"], request["entry"], int(request["seconds"])
        label = self.state.label(user, entry)
        budget = self.state.request_budget(user, entry)  # where a yes gives the time

        def ask(request: dict[str, Any]) -> Question:
            if budget is not None:  # review-12-s13 L7: not "this changes nothing"
                consequence = " ".join(filter(None, [
                    words.budget_note(label, budget),
                    self.state.grant_consequence(user, budget, seconds,
                                                 self.shepherd.clock())]))
                return words.grant_question(user, budget, seconds, True), consequence
            consequence = self.state.grant_consequence(user, entry, seconds,
                                                       self.shepherd.clock())
            return words.grant_question(user, label, seconds, False), consequence

        def approved(result: dict[str, Any]) -> str:
            given = result.get("budget")
            notes = words.answer_notes({**result, "label": given} if given else result,
                                       self.state.now(self.shepherd.clock()))
            where = f"in the {given} budget" if given else f"of {label}"
            return " ".join(filter(None, [
                f"Approved: {user} has {words.duration(seconds)} more {where}.", notes]))

        note = str(request.get("note") or "")
        self._ask(self._request_check(request["id"], ask), "Approve", "request.answer",
                  approved, quote=(f"{user}'s note", note) if note else None,
                  request_id=request["id"], answer="approve")

    @answered_first
    def action_decline(self) -> None:
        request = self._selected_request()
        if request is None:
            self._say("No child is asking for more time.")
            return
        user = request["user"]
        label = self.state.label(user, request["entry"])
        question = (f"Decline {user}'s request for {words.duration(request['seconds'])} "
                    f"more of {label}?", f"{user} will be told.")
        self._ask(self._request_check(request["id"], lambda _: question), "Decline",
                  "request.answer", "Declined; they will be told.",
                  request_id=request["id"], answer="decline")
