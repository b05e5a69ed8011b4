"""The 50 LUMA classes: the only place in the code that spells them.

Ids follow the reference order (LUMA paper): 0-41 in-distribution, 42-49 out-of-distribution.
Each class records the CIFAR dataset(s) and original CIFAR label(s) its images come from, so the
CIFAR renames (aquarium_fish -> fish, ...) live here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

N_ID = 42
N_OOD = 8
N_CLASSES = N_ID + N_OOD


@dataclass(frozen=True)
class LumaClass:
    """One class: id, name, whether it is out-of-distribution, and its image sources."""

    id: int
    name: str
    ood: bool
    cifar: tuple[tuple[str, str], ...]
    forms: tuple[str, ...]

    @property
    def split(self) -> str:
        return "ood" if self.ood else "id"


_ID_NAMES = [
    "man",
    "boy",
    "house",
    "woman",
    "girl",
    "table",
    "road",
    "horse",
    "dog",
    "ship",
    "bird",
    "mountain",
    "bed",
    "train",
    "bridge",
    "fish",
    "cloud",
    "chair",
    "cat",
    "baby",
    "castle",
    "forest",
    "television",
    "bear",
    "camel",
    "sea",
    "fox",
    "plain",
    "bus",
    "snake",
    "lamp",
    "clock",
    "lion",
    "tank",
    "palm",
    "rabbit",
    "pine",
    "cattle",
    "oak",
    "mouse",
    "frog",
    "ray",
]
_OOD_NAMES = ["bicycle", "truck", "elephant", "roses", "wolf", "telephone", "bee", "whale"]

# Classes whose images come from CIFAR-10; every other class is CIFAR-100's.
_CIFAR10 = {"bird", "cat", "dog", "frog", "horse", "ship", "truck"}
# LUMA name -> CIFAR-100 original label, where they differ.
_CIFAR100_RENAMES = {
    "fish": "aquarium_fish",
    "truck": "pickup_truck",
    "oak": "oak_tree",
    "roses": "rose",
    "pine": "pine_tree",
    "palm": "palm_tree",
}
# Spoken/written word forms beyond the name itself (plurals and the singular of "roses").
_IRREGULAR_FORMS = {
    "man": ("men",),
    "woman": ("women",),
    "mouse": ("mice",),
    "fish": ("fishes",),
    "baby": ("babies",),
    "fox": ("foxes",),
    "bus": ("buses", "busses"),
    "cattle": (),
    "roses": ("rose",),
    "ray": ("rays",),
    "wolf": ("wolves",),
    "sea": ("seas",),
}


def _forms(name: str) -> tuple[str, ...]:
    extra = _IRREGULAR_FORMS.get(name)
    if extra is None:
        extra = (name + "es",) if name.endswith(("s", "x", "ch", "sh")) else (name + "s",)
    return (name, *extra)


def _sources(name: str) -> tuple[tuple[str, str], ...]:
    if name == "truck":  # CIFAR-10 truck pooled with CIFAR-100 pickup_truck
        return (("cifar10", "truck"), ("cifar100", "pickup_truck"))
    if name in _CIFAR10:
        return (("cifar10", name),)
    return (("cifar100", _CIFAR100_RENAMES.get(name, name)),)


def _build() -> tuple[LumaClass, ...]:
    names = _ID_NAMES + _OOD_NAMES
    return tuple(
        LumaClass(id=i, name=n, ood=i >= N_ID, cifar=_sources(n), forms=_forms(n)) for i, n in enumerate(names)
    )


CLASSES: tuple[LumaClass, ...] = _build()
ID_CLASSES: tuple[LumaClass, ...] = CLASSES[:N_ID]
OOD_CLASSES: tuple[LumaClass, ...] = CLASSES[N_ID:]
NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
_BY_NAME = {c.name: c for c in CLASSES}
_BY_FORM = {f: c for c in CLASSES for f in c.forms}


def by_name(name: str) -> LumaClass:
    """The class called `name` (KeyError names the allowed set)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown class {name!r}; known: {', '.join(NAMES)}") from None


def class_id(name: str) -> int:
    return by_name(name).id


def by_form(word: str) -> LumaClass | None:
    """The class whose name or inflection is exactly `word` (lower-case), else None."""
    return _BY_FORM.get(word.lower())


def next_class_id(cid: int) -> int:
    """The class whose samples replace a conflicting modality: (id + 1) mod 42 (LUMA-SPEC §6)."""
    if not 0 <= cid < N_ID:
        raise ValueError(f"conflict is defined for in-distribution ids 0..{N_ID - 1}, got {cid}")
    return (cid + 1) % N_ID
