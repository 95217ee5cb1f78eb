"""A child's view: only their own entries and time left; start, stop, ask for more."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from shepherd.supervisor.account import allowed_client_variables
from shepherd.tui import words
from shepherd.tui.screens.ask import Answer, AskScreen
from shepherd.tui.screens.base import ViewScreen
from shepherd.tui.screens.confirm import Question
from shepherd.tui.widgets.entry_table import EntryTable
from shepherd.tui.widgets.line import Line
from shepherd.tui.widgets.row_table import RowTable
from shepherd.tui.widgets.session_list import SessionList


class ChildScreen(ViewScreen):
    VIEW = "Your entries"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "start", "Start", tooltip="Start the highlighted entry (Enter does too)"),
        Binding("s", "stop", "Stop", tooltip="Stop what is running (the highlighted one)"),
        Binding("r", "ask", "Ask for more time",
                tooltip="Ask a parent for more time, with a note; the answer shows here"),
    ]

    def body(self) -> ComposeResult:
        with VerticalScroll(id="mine"):
            yield SessionList(show_user=False)
            yield EntryTable(self.state.me,
                             title="Your entries  [dim](Enter or o starts one)[/]")
            yield Line("", id="answers")
        yield Line("", id="explain", fixed=True)

    def on_mount(self) -> None:
        self.set_interval(1.0, self.tick)
        self.query_one(EntryTable).focus()

    def tick(self) -> None:
        if self.is_current and self.state.status is not None:
            self.redraw()

    def _table(self) -> EntryTable | None:
        found = self.query(EntryTable)
        return found.first() if found else None

    def redraw(self) -> None:
        state = self.state
        if state.status is None or state.hello is None:
            return
        me = state.user(state.me)
        table = self.query_one(EntryTable)
        table.user = state.me
        mono = self.shepherd.clock()
        table.show_lines([state.entry_line(state.me, item, mono)
                          for item in (me or {}).get("entries", [])])
        sessions = [state.session_line(s, mono) for s in state.sessions()]
        self.query_one(SessionList).show_lines(sessions)
        answers = []
        for request in sorted(state.my_requests.values(), key=lambda r: -int(r.get("id", 0))):
            label = state.label(state.me, str(request.get("entry")))
            if request.get("state") == "pending":
                answers.append(f"You asked for {words.duration(request.get('seconds'))} more "
                               f"of {label}: waiting for an answer.")
            elif request.get("state") == "approved":
                budget = request.get("budget")
                where = f"in the {budget} budget" if budget else f"of {label}"
                answers.append(" ".join(filter(None, [
                    f"Yes: {words.duration(request.get('granted_s'))} more {where}.",
                    str(request.get("notes") or "")])))
            else:
                answers.append(f"No more time for {label} this time.")
        self.query_one("#answers", Line).show("\n".join(answers[:4]))
        self._explain()

    def _explain(self) -> None:
        table = self._table()
        text = "Enter starts the highlighted entry · r asks for more time · ? shows every key"
        if table is not None and table.selected_key:
            me = self.state.user(self.state.me) or {"entries": []}
            item = next((e for e in me["entries"] if e["id"] == table.selected_key), None)
            if item is not None:
                line = self.state.entry_line(self.state.me, item, self.shepherd.clock())
                text = words.bottom_line(line.label, line.detail)
        self.query_one("#explain", Line).show(text)

    def on_row_table_highlighted(self, event: RowTable.Highlighted) -> None:
        self._explain()

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        if isinstance(event.table, EntryTable):
            self.action_start()

    # -- actions -------------------------------------------------------------------
    def _entry(self) -> str | None:
        table = self._table()
        return table.selected_key if table is not None else None

    def action_start(self) -> None:
        entry = self._entry()
        if entry is None:
            return
        label = self.state.label(self.state.me, entry)
        env = allowed_client_variables(dict(os.environ))
        self.run_worker(self.shepherd.act("launch", f"{label} started.", entry=entry, env=env),
                        group="actions")

    def action_stop(self) -> None:
        sessions = [s for s in self.state.sessions() if self.state.elsewhere(s) is None]
        entry = self._entry()
        chosen = [s for s in sessions if s["entry"] == entry] or sessions[:1]
        if not chosen:
            self.notify("Nothing of yours is running.", severity="warning")
            return
        session_id = int(chosen[0]["id"])
        label = self.state.label(self.state.me, chosen[0]["entry"])

        def check() -> Question | str:  # kept true while it waits
            running = self.state.session(session_id)
            if running is None:
                return f"{label} has already ended."
            line = self.state.session_line(running, self.shepherd.clock())
            left = f" It has {line.countdown} left." if line.remaining_s is not None else ""
            return f"Stop {label} now?", f"Save your work first.{left}"

        now = check()
        if isinstance(now, str):
            self.notify(now, severity="warning")
            return
        self.shepherd.confirm_then(now[0], now[1], "Stop", "stop", f"{label} stopped.",
                                   check=check, session_id=session_id)

    def action_ask(self) -> None:
        me = self.state.user(self.state.me) or {"entries": []}
        targets = [(str(e["label"]), str(e["id"])) for e in me["entries"]]
        if not targets:
            return

        def asked(answer: Answer | None) -> None:
            if answer is not None and answer.target is not None:
                self.run_worker(self._ask(answer), group="actions")

        self.shepherd.ask(AskScreen("Ask a parent for more time", targets=targets,
                                    target=self._entry(), text_label="Note (optional)"),
                          asked)

    async def _ask(self, answer: Answer) -> None:
        assert answer.target is not None
        label = self.state.label(self.state.me, answer.target)
        asked = words.duration(answer.seconds)

        def done(result: Any) -> str:
            if result.get("again"):
                return (f"You asked for {asked} more of {label} already; it is still "
                        "waiting for a parent's answer.")
            return f"Asked for {asked} more of {label}."

        result = await self.shepherd.act("request_time", done, entry=answer.target,
                                         duration=answer.seconds, note=answer.text)
        if result is not None:
            request_id = int(result["request_id"])
            self.state.my_requests[request_id] = {"id": request_id, "entry": answer.target,
                                                  "seconds": answer.seconds, "state": "pending"}
            self.redraw()
