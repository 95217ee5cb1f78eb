"""The cuts' layers of a day's own time: what each cut took, so a raise gives back that.

A day's own time (its quota and the parent's time for today, take-backs and sets)
is cut by take-backs and lowering sets and raised by sets and time added for today.
On a day with a daily quota a cut takes, of each kind, in its order:

- ``aside``: the week's time (``--until week``) the day may still draw, set aside
  for the other days (a set only: a take-back never takes the week's time);
- ``added``: time added for today not used yet (it needs no weekly quota);
- ``quota``: the quota's part that the week's quota could still pay for the day.

(The quota minutes the week's quota had not left the day are taken first by a set,
and by a take-back after the added time; they are not kept: the day could never use
them, so a raise never gives them back, and time given after such a cut is the
child's: review-15-s18b M1 and case (ii) of review-15-s19.)

``cuts`` is a stack of what cuts took; ``given`` one of what raises gave back (and
what they added beyond it, as ``added``). A raise pops ``cuts``, the last layer first,
and gives back exactly what it took; a set's raise pops every kind, time added for
today no ``aside`` (it is the day's own, and what a set set aside stays the other
days': review-15-s19c R2), passing over it. What a raise has left after popping is
added time. A cut first takes back what the raises before it gave, the last given
first (the week's time they gave back goes aside again, review-15-s19d R3, and the
time a set added above the figure goes before the week's: L1), and then takes by its
own order. So a cut and a raise back, in either order, leave the day as it was, and
no raise undoes a cut it did not follow (review-15-s19d G1, review-15-s19c R1).

Everything here is pure arithmetic on whole seconds; the engine passes in the bounds
(what of each kind is there to give back or to take) and applies the result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

Kind = Literal["aside", "added", "quota"]
KINDS: tuple[Kind, ...] = ("aside", "added", "quota")
Layer = tuple[Kind, int]


@dataclass(frozen=True)
class DayLayers:
    """One (user, target, day)'s stacks, the last layer last."""

    cuts: tuple[Layer, ...] = ()
    given: tuple[Layer, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.cuts or self.given)

    def to_text(self) -> str:
        """As the store keeps it with each grant row ('' for none)."""
        if not self:
            return ""
        return json.dumps({"cuts": [list(layer) for layer in self.cuts],
                           "given": [list(layer) for layer in self.given]},
                          separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str | None) -> DayLayers:
        """Read back what ``to_text`` wrote; anything else (an older row, a damaged
        one) is no layers: a raise then adds, as before the layers were kept."""
        if not text:
            return NO_LAYERS
        try:
            data = json.loads(text)
            return cls(_read(data.get("cuts", ())), _read(data.get("given", ())))
        except (ValueError, TypeError, AttributeError):
            return NO_LAYERS

    def without_aside(self, freed: int) -> DayLayers:
        """Once ``freed`` of the day's aside is gone (a take-back of the week's time took
        it first), the cuts' aside layers hold that much less, the last first."""
        cuts = list(self.cuts)
        for i in range(len(cuts) - 1, -1, -1):
            if freed <= 0:
                break
            kind, seconds = cuts[i]
            if kind == "aside":
                part = min(seconds, freed)
                cuts[i] = (kind, seconds - part)
                freed -= part
        return DayLayers(_packed(cuts), self.given)


NO_LAYERS = DayLayers()


def _read(rows: object) -> tuple[Layer, ...]:
    layers: list[Layer] = []
    for row in rows:  # type: ignore[attr-defined]
        kind, seconds = row
        if kind in KINDS and int(seconds) > 0:
            layers.append((kind, int(seconds)))
    return tuple(layers)


def _packed(layers: Sequence[Layer]) -> tuple[Layer, ...]:
    """Without empty layers, neighbours of one kind merged."""
    out: list[Layer] = []
    for kind, seconds in layers:
        if seconds <= 0:
            continue
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + seconds)
        else:
            out.append((kind, seconds))
    return tuple(out)


@dataclass(frozen=True)
class Raised:
    """What a raise gives back of each kind (the rest of it is added time)."""

    layers: DayLayers
    aside_s: int  # of the week's time a set had set aside: the day's to draw again
    quota_s: int  # of the quota's part the week's quota could still pay
    added_s: int  # added time: popped ``added`` layers and what the raise had left


def raise_by(layers: DayLayers, seconds: int, *, may_pop_aside: bool, aside_there: int,
             quota_room: int) -> Raised:
    """A raise of the day's own time by ``seconds``: pop ``layers.cuts`` the last first
    and give back what each took; ``aside`` only where ``may_pop_aside`` (a set) and no
    more than ``aside_there`` (what the week's grants still hold of the day's aside),
    ``quota`` no more than ``quota_room`` (what the week's quota could still pay of the
    day's quota's part); what cannot come back as its kind comes back as added time."""
    cuts = list(layers.cuts)
    given: list[Layer] = []
    left, aside, quota, added = seconds, 0, 0, 0
    i = len(cuts) - 1
    while left > 0 and i >= 0:
        kind, held = cuts[i]
        if kind == "aside" and not may_pop_aside:
            i -= 1  # time added for today leaves it aside (review-15-s19c R2)
            continue
        part = min(held, left)
        cuts[i] = (kind, held - part)
        left -= part
        if kind == "aside":
            back = min(part, max(aside_there - aside, 0))
            aside += back
            given.append(("aside", back))
            added += part - back  # the week's grants no longer hold it: the day's own
            given.append(("added", part - back))
        elif kind == "quota":
            back = min(part, max(quota_room - quota, 0))
            quota += back
            given.append(("quota", back))
            added += part - back  # quota the week can no longer pay: the child's time
            given.append(("added", part - back))
        else:
            added += part
            given.append(("added", part))
        i -= 1
    # what no layer says: the quota's part a cut kept in no layer (an older store's row)
    # that the week could still pay comes back as quota first (review-15-s19 N1)
    back = min(left, max(quota_room - quota, 0))
    quota += back
    given.append(("quota", back))
    added += left - back
    given.append(("added", left - back))
    return Raised(DayLayers(_packed(cuts), _packed([*layers.given, *given])),
                  aside, quota, added)


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
           added_there: int, unusable_there: int, own_most: int | None = None) -> Cut:
    """A cut of the day's whole allowance by up to ``seconds``. A set takes first the
    ``unusable`` quota minutes (the day's standing counts them, the child never had
    them: review-15-s17d F2); then every cut takes back what the raises before it gave,
    the last given first; then takes by its order: a set the week's time it may set
    aside (``asidable``: what the day has not drawn of it), the added time not used
    (``added_there``), the quota's part; a take-back the added time, then the quota's
    part, its unusable minutes first. ``own_most``: the most it takes of the day's own
    time (a take-back: never what was used), None for no bound."""
    given = list(layers.given)
    cuts: list[Layer] = list(layers.cuts)
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
        if kind != "unusable":
            cuts.append((kind, part))  # type: ignore[arg-type]
        return part

    if is_set:
        take("unusable", left)
    i = len(given) - 1
    while left > 0 and i >= 0:
        kind, held = given[i]
        part = take(kind, held)
        given[i] = (kind, held - part)
        if part < held:
            break  # what this raise gave cannot all be taken: the ones before stay
        i -= 1
    for kind in (("aside", "added", "quota") if is_set else ("added", "unusable", "quota")):
        if left <= 0:
            break
        take(kind, left)
    return Cut(DayLayers(_packed(cuts), _packed(given)), took["aside"], took["added"],
               took["quota"], took["unusable"])


Key = tuple[str, str, date]


def read_layers(texts: Mapping[Key, str]) -> dict[Key, DayLayers]:
    """The layers per (user, target, day) from the text the store keeps."""
    read = {key: DayLayers.from_text(text) for key, text in texts.items()}
    return {key: layers for key, layers in read.items() if layers}


def layers_text(layers: Mapping[Key, DayLayers]) -> dict[Key, str]:
    """The layers per (user, target, day) as the store keeps them."""
    return {key: one.to_text() for key, one in layers.items() if one}
