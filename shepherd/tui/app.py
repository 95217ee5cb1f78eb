"""The Shepherd TUI: wires the daemon link to the views.

A parent gets four views (now, audit, history, policy); a child, the same app
showing only their own entries. The role comes from the daemon's ``hello``.
All daemon traffic goes through ``DaemonLink`` (the async IPC client).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.notifications import Notification, SeverityLevel
from textual.screen import Screen

from shepherd.ipc.protocol import ALREADY_DONE, LAUNCH_DENIED, RpcError
from shepherd.tui import words
from shepherd.tui.driver import terminal_driver
from shepherd.tui.heap import keep_for_good
from shepherd.tui.link import DaemonLink, Lost, NotConnected, Opener, Unanswered
from shepherd.tui.live import LiveState
from shepherd.tui.messages import (
    Connected,
    DaemonEvent,
    Disconnected,
    RequestsFetched,
    StateChanged,
    StatusFetched,
    WarningsFetched,
)
from shepherd.tui.screens.ask import Answer, AskScreen
from shepherd.tui.screens.audit import AuditScreen
from shepherd.tui.screens.child import ChildScreen
from shepherd.tui.screens.confirm import Check, ConfirmScreen
from shepherd.tui.screens.dashboard import DashboardScreen
from shepherd.tui.screens.help import HelpScreen, KeyList
from shepherd.tui.screens.history import HistoryScreen
from shepherd.tui.screens.policy import PolicyScreen

ONCE_ONLY = frozenset({"grant", "extend", "request.answer"})  # sent with an action_id
RECORDED_BY_ID = frozenset({"grant", "extend"})  # the store holds their id (daemon/once.py)
WAITING_SAID_AFTER_S = 1.0
VIEWS = {"dashboard": "Now", "audit": "Audit", "history": "History", "policy": "Policy"}


def unreachable_sentence(reason: str) -> str:
    """The banner's first sentence: where, and why in words ("it is not running")."""
    where, colon, why = reason.removeprefix("cannot reach the daemon at ").partition(": ")
    if colon and reason.startswith("cannot reach the daemon at "):
        return f"The Shepherd daemon cannot be reached at {where}: {why}."
    return f"The Shepherd daemon cannot be reached: {reason}."


class ShepherdApp(App[None]):
    CSS_PATH = "shepherd.tcss"
    TITLE = "Shepherd"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "dashboard": DashboardScreen, "audit": AuditScreen, "history": HistoryScreen,
        "policy": PolicyScreen, "child": ChildScreen}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "view('dashboard')", "Now", show=False),
        Binding("2", "view('audit')", "Audit", show=False),
        Binding("3", "view('history')", "History", show=False),
        Binding("4", "view('policy')", "Policy", show=False),
        Binding("R", "reload_policy", "Reload policy", show=False,
                tooltip="Read the policy file again (a bad one is rejected, the old one stays)"),
        Binding("question_mark", "keys", "Keys", tooltip="This list"),
        Binding("q", "quit", "Quit"),
    ]


    def get_driver_class(self) -> type[Driver]:
        """Keys are read by our driver: a lone Esc arrives without waiting for a poll."""
        return terminal_driver(super().get_driver_class())

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notice is plain text: names and notes come from the policy and the
        children, and a ``[/]`` in them must show as written, not end the TUI."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def action_help_quit(self) -> None:
        """Ctrl+C (Textual's hint said it in markup, which ``notify`` shows as written)."""
        self.notify("To quit Shepherd, press q (or Ctrl+Q while typing in a form).",
                    title="Do you want to quit?")

    def __init__(self, socket_path: Path, *, clock: Callable[[], float] = time.monotonic,
                 connect: bool = True, opener: Opener | None = None,
                 greeting: str = "") -> None:
        super().__init__()
        self.greeting = greeting
        self.socket_path = socket_path
        self.clock = clock
        self.state = LiveState()
        self.link = DaemonLink(socket_path, self.post_message, self._next_change, clock, opener)
        self._connect = connect
        self._request_notice: Notification | None = None  # the last one about requests

    def on_mount(self) -> None:
        self.sub_title = f"connecting to {self.socket_path}"
        self.switch_mode("dashboard")
        if self._connect:
            self.run_worker(self.link.run(), name="daemon-link", group="link", exclusive=True)

    def _next_change(self) -> float:
        return self.state.next_change_in(self.clock())

    # -- news from the daemon ------------------------------------------------------
    def _changed(self) -> None:
        for screen in self.screen_stack:  # a view under a dialog keeps ticking
            screen.post_message(StateChanged())  # (none while the app exits)

    def on_connected(self, message: Connected) -> None:
        state = self.state
        first = state.hello is None
        state.hello, state.connected, state.problem = message.hello, True, ""
        role = "a parent" if state.is_admin else "a child"
        self.sub_title = f"{state.me} ({role})"
        if not state.is_admin and self.current_mode != "child":
            self.switch_mode("child")
        if first and self.greeting:
            self.notify(self.greeting, title="Welcome", timeout=15)
        elif not first:
            self.notify("Connected to the daemon again.", timeout=3)
        self._changed()

    def on_disconnected(self, message: Disconnected) -> None:
        self.state.connected = False
        retry = f" Trying again in {message.retry_in:.0f}s…" if message.retry_in >= 1 else \
            " Trying again…"
        self.state.problem = (f"{unreachable_sentence(message.reason)} "
                              f"Nothing shown here is live.{retry}")
        self._changed()

    def on_status_fetched(self, message: StatusFetched) -> None:
        self.state.status, self.state.received = message.status, message.received
        self.state.pictures += 1
        self._changed()
        if self.state.pictures == 1:  # the rows of the first picture are kept
            keep_for_good(self)

    def on_requests_fetched(self, message: RequestsFetched) -> None:
        self.state.requests = message.requests
        self._changed()

    def on_warnings_fetched(self, message: WarningsFetched) -> None:
        self.state.warnings.clear()
        for row in message.warnings:
            self.state.warnings.append({**row.get("data", {}), "type": row["type"],
                                        "user": row.get("user"), "entry": row.get("entry"),
                                        "ts": row.get("ts")})
        self._changed()

    def on_daemon_event(self, message: DaemonEvent) -> None:
        event = message.event
        kind = event.get("type")
        state = self.state
        stamp = state.now(self.clock()).isoformat() if state.status else None
        if kind == "warning_issued":
            state.warnings.append({**event, "ts": stamp})
        elif kind == "time_requested":
            request = {"id": event.get("request_id"), "user": event.get("user"),
                       "entry": event.get("entry"), "seconds": event.get("seconds"),
                       "note": event.get("note", ""), "requested_at": stamp,
                       "label": event.get("label")}
            if state.is_admin:
                if all(r["id"] != request["id"] for r in state.requests):
                    state.requests.append(request)
                self._tell_request(request)
            elif request["user"] == state.me and request["id"] is not None:
                # The child's own, made anywhere (`shepherd request` too): waiting here.
                state.my_requests.setdefault(int(request["id"]), {
                    "id": int(request["id"]), "entry": request["entry"],
                    "seconds": request["seconds"], "state": "pending"})
        elif kind == "request_answered":
            state.requests = [r for r in state.requests if r["id"] != event.get("id")]
            state.answered[int(event.get("id") or 0)] = event  # who, and how (a question)
            if not state.is_admin:
                label = state.label(state.me, str(event.get("entry")))
                approved = event.get("state") == "approved"
                budget = event.get("budget")  # given in the budget that limits the entry
                notes = (words.answer_notes({**event, "label": budget or label},
                                            state.now(self.clock()), to_child=True)
                         if approved and state.status else "")
                state.my_requests[int(event.get("id", 0))] = {**event, "notes": notes}
                if approved:
                    where = (f"in the {budget} budget, which {label} shares" if budget
                             else f"of {label}")
                    self.notify(" ".join(filter(None, [
                        f"Yes: you have {words.duration(event.get('granted_s'))} more "
                        f"{where}.", notes])), title="Your request", timeout=15)
                else:
                    self.notify(f"No more time for {label} this time.",
                                title="Your request", severity="warning", timeout=15)
        elif kind == "policy_rejected" and state.is_admin:
            self.notify("A new policy was rejected; the old one stays in force. "
                        "See the Policy view (4).", severity="error", timeout=15)
        self._changed()

    def _tell_request(self, request: dict[str, Any]) -> None:
        """One notice for the requests that arrive together: while the last one still
        shows, it is replaced by one that counts them all, so a burst of children's
        requests is one notice that updates, not a stack that hides the screen."""
        state = self.state
        # (the event names the entry: a request heard before the first status is said
        # with its name too, not its id)
        label = str(request.get("label") or state.label(str(request["user"]),
                                                        str(request["entry"])))
        asks = f"{request['user']} asks for {words.duration(request['seconds'])} more of {label}"
        waiting = len(state.requests)
        shown = self._request_notice
        if shown is not None and shown in self._notifications and waiting > 1:
            text, title = (f"{waiting} requests for more time are waiting; the newest: {asks}. "
                           "Choose one in the list, then press a to approve or x to decline.",
                           "Requests for more time")
        else:
            note = f" “{words.one_line(str(request['note']), 80)}”" if request["note"] else ""
            text, title = (f"{asks}.{note} Press a to approve, x to decline.",
                           "A request for more time")
        if shown is not None:
            self._unnotify(shown, refresh=False)
        # Added here, not posted as Textual's notify does: a second request read in the
        # same turn finds this one showing.
        self._request_notice = Notification(text, title, timeout=10)
        self._notifications.add(self._request_notice)
        self._refresh_notifications()

    # -- acting ----------------------------------------------------------------------
    def confirm_then(self, question: str, detail: str, yes: str, method: str,
                     done: str | Callable[[Any], str], *, check: Check | None = None,
                     quote: tuple[str, str] | None = None, **params: Any) -> None:
        """Ask; on yes, call ``method`` and say ``done`` (or what went wrong).

        ``check`` keeps the question true while it waits (see ``ConfirmScreen``);
        ``quote`` is someone else's words (whose, what), shown apart and bounded."""

        def answered(go: bool | None) -> None:
            if go:
                self.run_worker(self.act(method, done, **params), group="actions")

        self.push_screen(ConfirmScreen(question, detail, yes, check, quote), answered)

    async def act(self, method: str, done: str | Callable[[Any], str], **params: Any) -> Any:
        """Send a parent's or child's action and say what became of it. An action that
        gives time carries an ``action_id``: when no answer comes it is asked again, with
        the same id, once the daemon answers, and the daemon applies it only once."""
        if method in ONCE_ONLY and not params.get("preview"):
            params.setdefault("action_id", f"tui-{uuid.uuid4().hex}")
        instance = self.link.instance
        try:
            result = await self._send(method, params)
        except Unanswered as exc:
            return await self._unanswered(method, done, instance, params,
                                          lost=isinstance(exc, Lost))
        except NotConnected as exc:
            self.notify(f"Not done: {exc}.", severity="error")
            return None
        except RpcError as exc:
            self.notify(self.explain(exc), severity="error", timeout=10)
            return None
        return self._done(done, result)

    async def _send(self, method: str, params: dict[str, Any]) -> Any:
        def say() -> None:
            self.state.waiting = ("Waiting for the daemon to answer… (it is slow right now; "
                                  "what you asked is on its way)")
            self._changed()

        timer = self.set_timer(WAITING_SAID_AFTER_S, say)
        try:
            return await self.link.call(method, **params)
        finally:
            timer.stop()
            if self.state.waiting:
                self.state.waiting = ""
                self._changed()

    def _done(self, done: str | Callable[[Any], str], result: Any, first: str = "") -> Any:
        self.notify(first + (done if isinstance(done, str) else done(result)), timeout=8)
        self.link.refresh_soon()
        return result

    async def _unanswered(self, method: str, done: str | Callable[[Any], str], instance: str,
                          params: dict[str, Any], lost: bool = False) -> Any:
        """No answer came (none in time, or the connection broke after the action was
        sent): the action may be done yet, so never "Not done"."""
        if lost:
            unknown = ("Sent, but the connection to the daemon broke before it answered; "
                       "it may have done it.")
        else:
            unknown = (f"The daemon did not answer in {self.link.action_timeout:.0f} seconds; "
                       "it may still do this when it recovers.")
        if "action_id" not in params or not instance:
            look = self._look_again(method, params)
            self.notify(f"{unknown} " + ("Shepherd will look when the daemon answers again and "
                                         "say what became of it." if look else
                                         "Check the screen before trying again."),
                        severity="warning", timeout=30)
            if look:
                await self.link.back()
                await self._say_what_became(method, params)
            return None
        self.notify(f"{unknown} Shepherd will ask it again when it answers, and it is done "
                    "only once either way.", severity="warning", timeout=30)
        restarted = await self.link.back() != instance
        if restarted and method not in RECORDED_BY_ID:
            self.notify("The daemon restarted before it answered. Check the screen to see "
                        "whether it was done before you try again.", severity="warning",
                        timeout=30)
            self.link.refresh_soon()
            return None
        try:  # the same id: a daemon that did it answers as before, or says it is done
            result = await self._send(method, params)
        except NotConnected:
            self.notify(f"{unknown} Check the screen before trying again.",
                        severity="warning", timeout=30)
            return None
        except RpcError as exc:
            self.notify(self.explain(exc), severity="error" if exc.code != ALREADY_DONE
                        else "information", timeout=15)
            self.link.refresh_soon()
            return None
        return self._done(done, result, "The daemon answered at last. ")

    @staticmethod
    def _look_again(method: str, params: dict[str, Any]) -> bool:
        """An action whose outcome the daemon's status shows (see ``_say_what_became``)."""
        return ((method == "stop" and "session_id" in params)
                or (method in ("lock", "unlock") and "user" in params)
                or (method == "launch" and "entry" in params))

    async def _say_what_became(self, method: str, params: dict[str, Any]) -> None:
        """After an unanswered stop, lock, unlock or launch: the daemon's status, read
        again on the new connection, says whether it was done."""
        try:
            status = await self.link.call("status")
        except (NotConnected, RpcError):
            self.notify("The daemon is back, but its state could not be read. Check the "
                        "screen before trying again.", severity="warning", timeout=30)
            return
        self.link.refresh_soon()
        sessions = list(status.get("sessions", []))
        users = {str(u.get("name")): u for u in status.get("users", [])}
        back = "The daemon is back. "
        if method == "stop":
            running = next((s for s in sessions if s.get("id") == params["session_id"]), None)
            if running is None:
                text = "It was stopped: that session is no longer running."
            else:
                label = self.state.label(str(running["user"]), str(running["entry"]))
                text = (f"{running['user']}'s {label} is still running: it was not stopped. "
                        "Stop it again if you still want to.")
        elif method in ("lock", "unlock"):
            user = str(params["user"])
            locked = bool(users.get(user, {}).get("locked"))
            if locked == (method == "lock"):
                text = f"{user} is {'locked' if locked else 'unlocked'}: it was done."
            else:
                text = (f"{user} is still {'locked' if locked else 'unlocked'}: it was not "
                        f"done. {method.capitalize()} again if you still want to.")
        else:
            user = str(params.get("user") or self.state.me)
            entry = str(params["entry"])
            label = self.state.label(user, entry)
            if any(s.get("user") == user and s.get("entry") == entry for s in sessions):
                text = f"{label} is running: it was started."
            else:
                text = f"{label} is not running: it did not start (or ended already)."
        self.notify(back + text, timeout=30)

    def explain(self, error: RpcError) -> str:
        data = error.data if isinstance(error.data, dict) else {}
        if error.code == LAUNCH_DENIED and data.get("denied"):
            now = self.state.now(self.clock()) if self.state.status else None
            if now is not None:
                label = self.state.label(self.state.me, str(data.get("entry", "")))
                return words.refusal(label or "It", data["denied"], now,
                                     you=None if self.state.is_admin else self.state.me)
        if error.code == ALREADY_DONE:
            return (f"That was done already, at {data.get('at', 'an earlier moment')}, before "
                    "the daemon restarted; it was not done again.")
        if data.get("errors"):
            return error.message + ":\n" + "\n".join(map(str, data["errors"][:5]))
        return f"Not done: {error.message}."

    # -- views and keys ----------------------------------------------------------------
    def action_view(self, mode: str) -> None:
        if not self.state.is_admin and self.state.hello is not None:
            self.notify("That view is for parents.", severity="warning")
            return
        self.switch_mode(mode)

    def action_reload_policy(self) -> None:
        if not self.state.is_admin:
            return
        self.confirm_then("Reload the policy file now?",
                          "A policy with errors is rejected and the current one stays.",
                          "Reload", "policy.reload", "The policy was reloaded.")

    def ask(self, form: AskScreen, answered: Callable[[Answer | None], None]) -> None:
        """Show a form. A form of the same shape (title, choices) is made once and
        kept: composing one (a choice list, two fields, buttons) was most of the cost
        of opening it."""
        name = f"ask-{hash(form.shape())}"
        if self.is_screen_installed(name):
            kept = self.get_screen(name)
            assert isinstance(kept, AskScreen)
            kept.reset(form.target)
        else:
            self.install_screen(form, name)
            keep_for_good(self)
        self.push_screen(name, answered)

    def action_keys(self) -> None:
        # Made once per role and kept: opening it again costs no compose and no layout.
        hello = self.state.hello
        name = f"keys-{'none' if hello is None else 'parent' if self.state.is_admin else 'child'}"
        if not self.is_screen_installed(name):
            self.install_screen(HelpScreen(self.key_sections()), name)
            keep_for_good(self)
        self.push_screen(name)

    def key_sections(self) -> KeyList:
        sections: KeyList = [("Everywhere", [
            *self.BINDINGS,
            Binding("tab,shift+tab", "", "Next (previous) table or field; arrows move within"),
            Binding("ctrl+p", "", "Command palette: every action by name")])]
        if self.state.hello is None:  # who this is comes with the daemon's first answer
            return sections
        if self.state.is_admin:
            sections += [("Now (1)", list(DashboardScreen.BINDINGS)),
                         ("Audit (2)", list(AuditScreen.BINDINGS)),
                         ("History (3)", list(HistoryScreen.BINDINGS))]
        else:
            sections += [("Your entries", list(ChildScreen.BINDINGS))]
        sections += [("In a question", list(ConfirmScreen.BINDINGS)),
                     ("In a form", [Binding("enter", "", "Done"),
                                    Binding("escape", "", "Cancel")])]
        return sections

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.state.hello is None:  # nothing to act on until the daemon answers
            return
        if not self.state.is_admin:
            for binding in ChildScreen.BINDINGS:
                assert isinstance(binding, Binding)
                yield SystemCommand(binding.description, "your entries",
                                    self._on_view("child", binding.action))
            return
        for mode, title in VIEWS.items():
            yield SystemCommand(f"Show {title}", f"the {title} view", self._switch(mode))
        for binding in DashboardScreen.BINDINGS:
            assert isinstance(binding, Binding)
            yield SystemCommand(binding.description, "on the selected row of Now",
                                self._on_view("dashboard", binding.action))
        yield SystemCommand("Reload policy", "read the policy file again",
                            self.action_reload_policy)
        yield SystemCommand("Verify the audit log", "check its hash chain",
                            self._on_view("audit", "verify"))

    def _switch(self, mode: str) -> Callable[[], None]:
        return lambda: self.action_view(mode)

    def _on_view(self, mode: str, action: str) -> Callable[[], None]:
        def run() -> None:
            if self.current_mode != mode:
                self.switch_mode(mode)
            self.call_after_refresh(self.screen.run_action, action)
        return run
