"""A DataTable redrawn by key: only changed cells are touched, the cursor stays put."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text


class KeyedTable(DataTable[Cell]):
    """Rows are given as ``(key, cells)``; the same keys in the same order update in place."""

    DEFAULT_CSS = "KeyedTable { height: auto; }"

    def __init__(self, columns: Sequence[tuple[str, str]], *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._columns = list(columns)
        self._shown: list[tuple[str, tuple[Cell, ...]]] = []
        for key, label in self._columns:  # now, so rows may come before it is mounted
            self.add_column(label, key=key)

    def show(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        given = [(key, tuple(cells)) for key, cells in rows]
        if [k for k, _ in given] == [k for k, _ in self._shown]:
            for (key, cells), (_, before) in zip(given, self._shown, strict=True):
                for (column, _), cell, old in zip(self._columns, cells, before, strict=True):
                    if cell != old:
                        self.update_cell(key, column, cell, update_width=True)
        else:
            selected = self.selected_key
            self.clear()
            for key, cells in given:
                self.add_row(*cells, key=key)
            keys = [k for k, _ in given]
            if selected in keys:
                self.move_cursor(row=keys.index(selected), animate=False)
        self._shown = given

    @property
    def selected_key(self) -> str | None:
        if not self._shown or self.cursor_row < 0 or self.cursor_row >= len(self._shown):
            return None
        return self._shown[self.cursor_row][0]

    def select_key(self, key: str) -> bool:
        keys = [k for k, _ in self._shown]
        if key not in keys:
            return False
        self.move_cursor(row=keys.index(key), animate=False)
        return True
