"""A choice list inside a form: Enter does what the form's button says, not open the list.

Textual's ``Select`` opens its list on Enter, so in a form whose first field is a
choice, Enter never reached "Explain (Enter)" or "OK (Enter)". Here the list opens on
↓, ↑ and Space (and a click); Enter, left to the form, submits. In the open list,
Enter still picks the highlighted choice and Esc closes only the list.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Select


class FormSelect(Select[str], inherit_bindings=False):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,space,up", "show_overlay", "Show the choices", show=False),
    ]
