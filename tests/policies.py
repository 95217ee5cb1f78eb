"""Policy text shared by the tests of every package (engine, explain, daemon)."""

from __future__ import annotations

LABELS = {"a": "Alpha", "b": "Beta"}


def two_in_a_group(*group_limits: str, group: str = "games", labelled: bool = False,
                   command: tuple[str, ...] = ()) -> str:
    """Two programs, "a" and "b", sharing the group ``group`` and its limits (TOML lines).
    ``labelled``: they are called Alpha and Beta; ``command``: what both run (by default
    each its own id)."""
    def entry(name: str) -> str:
        label = f'label = "{LABELS[name]}"\n' if labelled else ""
        argv = ", ".join(f'"{word}"' for word in command or (name,))
        return f'[[entries]]\nid = "{name}"\n{label}command = [{argv}]\n'

    return "".join(map(entry, ("a", "b"))) + (
        f'[[groups]]\nid = "{group}"\nentries = ["a", "b"]\n'
        + "".join(f"{line}\n" for line in group_limits))
