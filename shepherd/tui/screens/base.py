"""What every view shares: header, connection banner, footer, redraw on news."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.app import ComposeResult
from textual.geometry import Size
from textual.screen import Screen

from shepherd.tui.heap import keep_for_good
from shepherd.tui.messages import StateChanged
from shepherd.tui.widgets.banner import ConnectionBanner
from shepherd.tui.widgets.key_line import KeyLine
from shepherd.tui.widgets.title_bar import TitleBar

if TYPE_CHECKING:
    from shepherd.tui.app import ShepherdApp
    from shepherd.tui.live import LiveState


class ViewScreen(Screen[None]):
    """A top-level view. Subclasses compose ``body()`` and draw in ``redraw()``."""

    @property
    def shepherd(self) -> ShepherdApp:
        from shepherd.tui.app import ShepherdApp

        assert isinstance(self.app, ShepherdApp)
        return self.app

    @property
    def state(self) -> LiveState:
        return self.shepherd.state

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield ConnectionBanner()
        yield from self.body()
        yield KeyLine()

    def body(self) -> ComposeResult:
        yield from ()

    _theme_seen = ""  # the theme the view was last styled for

    def on_mount(self) -> None:
        keep_for_good(self.app)  # a view is made once and kept

    def on_screen_suspend(self) -> None:
        self._theme_seen = self.app.theme

    def _screen_resized(self, size: Size) -> None:
        """A dialog's first layout comes to Textual as a resize, which it passes on to
        the view beneath: a whole layout of this view (tens of ms on a full dashboard)
        for a size that did not change. A real resize still lays it out."""
        if not self.is_current and size == self.outer_size:
            return
        super()._screen_resized(size)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Textual's own handler (subclass first). Textual restyles every
        # widget of a view each time it is shown again (most of a switch's cost); the
        # styles change only with the theme, so only then.
        if self._theme_seen and self._theme_seen == self.app.theme:
            event.refresh_styles = False
        self._draw()

    def on_state_changed(self, message: StateChanged) -> None:
        self._draw()

    VIEW = ""

    def _draw(self) -> None:
        view = f" · {self.VIEW}" if self.VIEW else ""
        self.query_one(TitleBar).show(f"Shepherd — {self.app.sub_title}{view}"
                                      if self.app.sub_title else "Shepherd")
        self.query_one(ConnectionBanner).show_problem(self.state.problem or self.state.waiting)
        self.query_one(KeyLine).set_only_app_keys(self.state.hello is None)
        self.redraw()

    def redraw(self) -> None:
        """Draw from ``self.state``; called on news and when the view is shown."""
