"""The cuts' layers of a day's own time: what each cut took, so a raise gives back that.

A day's own time (its quota and the parent's time for today, take-backs and sets)
is cut by take-backs and lowering sets and raised by sets and time added for today.
On a day with a daily quota a cut takes, of each kind, in its order:

- ``aside``: the week's time (``--until week``) the day may still draw, set aside
  for the other days (a set only);
- ``added``: time added for today not used yet (it needs no weekly quota);
- ``quota``: the quota's part that the week's quota could still pay for the day.

(The quota minutes the week's quota had not left the day are taken first by a set,
and by a take-back after the added time; they are not kept: the day could never use
them, so no raise gives them back, and time given after such a cut is the child's:
review-15-s18b M1 and case (ii) of review-15-s19.)

One stack per (user, target, day), the last layer last. A cut pushes what it took
of each kind (``aside``, ``added``, ``quota``). A raise pops them, the last first, and
gives back exactly what each took: what it gave back stays where the layer was, as a
hole (``+aside``, ``+added``, ``+quota``), and what it had left after popping it gives of
nothing a cut took, on top (``new``: added time; ``new_quota``: quota minutes no layer
held, an older store's day). A set's raise pops every kind; time added for today
passes over ``aside`` (it is the day's own, and what a set set aside stays the other
days': review-15-s19c R2). A raise passes over holes and stops at what a raise gave of
nothing (a raise after it is more of the same). Each raise's gives carry its number; a
cut takes back first what the raises gave, the last raise first, of it what it gave of
nothing first (``new`` is gone: a cut that takes back all a raise gave leaves the day
as if that raise was never said, so a raise after it undoes the cuts before that one),
then what it gave back, the deepest first (a hole is the
layer it was again; the week's time goes aside again, as ``taken_aside`` when a
take-back put it there, which time added for today gives back: the take-back's
inverse), then takes by its own order. So words said back in reverse leave the day as
it was (review-15-s19 N1), and no raise undoes a cut it does not follow
(review-15-s19d G1, R3, R4, L1; review-15-s19c R1).

Everything here is pure arithmetic on whole seconds; the engine passes in the bounds
(what of each kind is there to give back or to take) and applies the result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

Kind = Literal["aside", "taken_aside", "added", "quota", "+aside", "+added", "+quota", "new",
               "new_quota"]
KINDS: tuple[Kind, ...] = ("aside", "taken_aside", "added", "quota", "+aside", "+added",
                           "+quota", "new", "new_quota")
# ``taken_aside``: the week's time a take-back put aside again (it took back what a set's
# raise had given back of it); time added for today gives it back, as the take-back's
# inverse (review-15-s19 N1), where it leaves a set's ``aside`` aside (R2)
CUT_KINDS = ("aside", "taken_aside", "added", "quota")
Layer = tuple[Kind, int, int]  # (kind, seconds, the number of the raise that gave it)


@dataclass(frozen=True)
class DayLayers:
    """One (user, target, day)'s stack, the last layer last."""

    stack: tuple[Layer, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.stack)

    def to_text(self) -> str:
        """As the store keeps it with each grant row ('' for none)."""
        if not self:
            return ""
        return json.dumps([list(layer) for layer in self.stack], separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str | None) -> DayLayers:
        """Read back what ``to_text`` wrote; anything else (an older row, a damaged
        one) is no layers: a raise then adds, as before the layers were kept."""
        if not text:
            return NO_LAYERS
        try:
            layers: list[Layer] = []
            for kind, seconds, number in json.loads(text):
                if kind in KINDS and int(seconds) > 0:
                    layers.append((kind, int(seconds), int(number)))
            return cls(tuple(layers))
        except (ValueError, TypeError):
            return NO_LAYERS

    def added_recorded(self) -> int:
        """The added time the raises' records say they gave (``new`` and ``+added``)."""
        return sum(held for kind, held, _ in self.stack if kind in ("new", "+added"))

    def without_aside(self, freed: int) -> DayLayers:
        """Once ``freed`` of the day's aside is gone (a take-back of the week's time took
        it first), its ``aside`` layers hold that much less, the last first."""
        stack = list(self.stack)
        for i in range(len(stack) - 1, -1, -1):
            kind, seconds, number = stack[i]
            if freed > 0 and kind in ("aside", "taken_aside"):
                part = min(seconds, freed)
                stack[i] = (kind, seconds - part, number)
                freed -= part
        return DayLayers(_packed(stack))


NO_LAYERS = DayLayers()


def _packed(layers: Sequence[Layer]) -> tuple[Layer, ...]:
    """Without empty layers, neighbours of one kind and number merged."""
    out: list[Layer] = []
    for kind, seconds, number in layers:
        if seconds <= 0:
            continue
        if out and out[-1][0] == kind and out[-1][2] == number:
            out[-1] = (kind, out[-1][1] + seconds, number)
        else:
            out.append((kind, seconds, number))
    return tuple(out)


def _numbered(stack: Sequence[Layer]) -> int:
    """The number the next raise's gives take."""
    return max((number for _, _, number in stack), default=0) + 1


@dataclass(frozen=True)
class Raised:
    """What a raise gives back of each kind (the rest of it is added time)."""

    layers: DayLayers
    aside_s: int  # of the week's time a set had set aside: the day's to draw again
    quota_s: int  # of the quota's part the week's quota could still pay
    added_s: int  # added time: popped ``added`` layers and what the raise had left


def raise_by(layers: DayLayers, seconds: int, *, may_pop_aside: bool, aside_there: int,
             quota_room: int) -> Raised:
    """A raise of the day's own time by ``seconds``: pop the cuts' layers the last first
    and give back what each took; ``aside`` only where ``may_pop_aside`` (a set) and no
    more than ``aside_there`` (what the week's grants still hold of the day's aside),
    ``quota`` no more than ``quota_room`` (what the week's quota could still pay of the
    day's quota's part); what cannot come back as its kind comes back as added time."""
    stack: list[Layer | list[Layer]] = list(layers.stack)
    number = _numbered(layers.stack)
    on_top: list[Layer] = []
    left, aside, quota, added = seconds, 0, 0, 0
    i = len(stack) - 1
    while left > 0 and i >= 0:
        layer = stack[i]
        assert isinstance(layer, tuple)
        kind, held, _ = layer
        if kind in ("new", "new_quota"):
            break  # a raise before gave it of nothing: this one is more of the same
        if kind not in CUT_KINDS or (kind == "aside" and not may_pop_aside):
            i -= 1  # given back already; or time added for today leaves it aside (R2)
            continue
        part = min(held, left)
        left -= part
        back = part
        if kind in ("aside", "taken_aside"):
            back = min(part, max(aside_there - aside, 0))
            aside += back  # (the rest: the week's grants no longer hold it, the day's own)
        elif kind == "quota":
            back = min(part, max(quota_room - quota, 0))
            quota += back  # (the rest: quota the week can no longer pay, the child's)
        added += part - back if kind != "added" else part
        hole: Kind = ("+quota" if kind == "quota" else "+added" if kind == "added"
                      else "+aside")
        stack[i] = [(kind, held - part, 0), (hole, back, number)]
        on_top.append(("new", part - back, number))
        i -= 1
    if may_pop_aside and left > 0:
        # What a set set aside that no layer says (a day whose cuts were written before
        # the layers were kept, and what raises said since the upgrade did not give back):
        # a set's raise gives it back first, as the code before did; the quota's room first
        # gave the week's grant to the other days too (review-15-s20 H1: on the day of an
        # upgrade, `+15m --until week`, `-20m`, `=0m`, then `=15m`: 50 where 35; and
        # review-15-s21 H1b: then `=5m`, `=15m`, the first raise leaving a layer: 45).
        recorded = sum(held for kind, held, _ in layers.stack
                       if kind in ("aside", "taken_aside"))
        back = min(left, max(aside_there - max(recorded, aside), 0))
        aside += back
        left -= back
        on_top.append(("+aside", back, number))
    # what no layer says: the quota's part a cut kept in no layer (an older store's row)
    # that the week could still pay comes back as quota first (review-15-s19 N1)
    back = min(left, max(quota_room - quota, 0))
    quota += back
    added += left - back
    on_top += [("new_quota", back, number), ("new", left - back, number)]
    flat: list[Layer] = []
    for one in stack:
        flat += one if isinstance(one, list) else [one]
    return Raised(DayLayers(_packed([*flat, *on_top])), aside, quota, added)


@dataclass(frozen=True)
class Cut:
    """What a cut takes of each kind (``unusable``: quota minutes the week could not pay)."""

    layers: DayLayers
    aside_s: int
    added_s: int
    quota_s: int
    unusable_s: int

    @property
    def taken_s(self) -> int:
        return self.aside_s + self.added_s + self.quota_s + self.unusable_s


def cut_by(layers: DayLayers, seconds: int, *, is_set: bool, asidable: int,
           added_there: int, unusable_there: int, own_most: int | None = None,
           unrecorded_added: int = 0) -> Cut:
    """A cut of the day's whole allowance by up to ``seconds``. A set takes first the
    ``unusable`` quota minutes (the day's standing counts them, the child never had
    them: review-15-s17d F2); then every cut takes back what the raises before it gave,
    the last given first; then takes by its order: a set the week's time it may set
    aside (``asidable``: what the day has not drawn of it), the added time not used
    (``added_there``), the quota's part; a take-back the added time, then the quota's
    part, its unusable minutes first. ``own_most``: the most it takes of the day's own
    time (a take-back: never what was used), None for no bound. ``unrecorded_added``: a
    set's day's added time no raise's record says (said before the layers were kept, on
    the day a store is upgraded): taken back after the recorded raises, as theirs, before
    the week's time is set aside (review-15-s21 H1c)."""
    stack = list(layers.stack)
    pushed: list[Layer] = []
    took = {"aside": 0, "added": 0, "quota": 0, "unusable": 0}
    left = seconds

    def room(kind: str) -> int:
        own = took["added"] + took["quota"] + took["unusable"]
        most = left if own_most is None or kind == "aside" else min(left, own_most - own)
        if kind == "aside":
            return min(most, asidable - took["aside"])
        if kind == "added":
            return min(most, added_there - took["added"])
        if kind == "unusable":
            return min(most, unusable_there - took["unusable"])
        return most

    def take(kind: str, most: int) -> int:
        nonlocal left
        part = max(min(most, room(kind)), 0)
        took[kind] += part
        left -= part
        return part

    if is_set:
        take("unusable", left)
    while left > 0:
        given = [i for i, (kind, _, _) in enumerate(stack) if kind not in CUT_KINDS]
        if not given:
            break
        # the last given first: of one raise, what it gave of nothing (on top), then what
        # it gave back, the deepest (popped last) first
        i = max(given, key=lambda i: (stack[i][2], stack[i][0].startswith("new"), -i))
        kind, held, number = stack[i]
        if kind.startswith("new"):  # given of nothing: taking it back is no cut
            part = take("quota" if kind == "new_quota" else "added", held)
            stack[i] = (kind, held - part, number)
        else:  # the hole is the layer it was again (a take-back's aside its own kind)
            cut: Kind = ("quota" if kind == "+quota" else "added" if kind == "+added"
                         else "aside" if is_set else "taken_aside")
            part = take("aside" if cut == "taken_aside" else cut, held)
            stack[i:i + 1] = [(cut, part, 0), (kind, held - part, number)]
        if part < held:
            break  # what this raise gave cannot all be taken back: what is below stays
        stack = list(_packed(stack))
    if is_set and left > 0:
        take("added", unrecorded_added)  # (given of nothing: no layer, as ``new`` taken)
    order: tuple[Kind | None, ...] = (("aside", "added", "quota") if is_set
                                      else ("added", None, "quota"))  # None: unusable
    for step in order:
        if left <= 0:
            break
        part = take(step or "unusable", left)
        if step is not None:
            pushed.append((step, part, 0))
    return Cut(DayLayers(_packed([*stack, *pushed])), took["aside"], took["added"],
               took["quota"], took["unusable"])

Key = tuple[str, str, date]


def read_layers(texts: Mapping[Key, str]) -> dict[Key, DayLayers]:
    """The layers per (user, target, day) from the text the store keeps."""
    read = {key: DayLayers.from_text(text) for key, text in texts.items()}
    return {key: layers for key, layers in read.items() if layers}


def layers_text(layers: Mapping[Key, DayLayers]) -> dict[Key, str]:
    """The layers per (user, target, day) as the store keeps them."""
    return {key: one.to_text() for key, one in layers.items() if one}
