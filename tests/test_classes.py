"""The class table: reference order, splits, CIFAR sources, and that nothing else spells it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lumabench import classes as C


def test_fifty_classes_in_reference_order() -> None:
    assert len(C.CLASSES) == 50 and C.N_ID == 42 and C.N_OOD == 8
    assert [c.id for c in C.CLASSES] == list(range(50))
    assert C.NAMES[:5] == ("man", "boy", "house", "woman", "girl")
    assert C.NAMES[41] == "ray" and C.NAMES[42] == "bicycle" and C.NAMES[49] == "whale"
    assert all(not c.ood for c in C.ID_CLASSES) and all(c.ood for c in C.OOD_CLASSES)
    assert len(set(C.NAMES)) == 50


def test_cifar_sources_and_renames() -> None:
    assert C.by_name("fish").cifar == (("cifar100", "aquarium_fish"),)
    assert C.by_name("oak").cifar == (("cifar100", "oak_tree"),)
    assert C.by_name("roses").cifar == (("cifar100", "rose"),)
    assert C.by_name("truck").cifar == (("cifar10", "truck"), ("cifar100", "pickup_truck"))
    cifar10 = {c.name for c in C.CLASSES if any(d == "cifar10" for d, _ in c.cifar)}
    assert cifar10 == {"bird", "cat", "dog", "frog", "horse", "ship", "truck"}
    # the image test pool size of LUMA-SPEC §2: 6 CIFAR-10 x 1000 + 36 CIFAR-100 x 100
    id_c10 = sum(1 for c in C.ID_CLASSES if c.cifar[0][0] == "cifar10")
    assert id_c10 * 1000 + (42 - id_c10) * 100 == 9600


def test_forms_and_lookup() -> None:
    assert C.by_form("men").name == "man"
    assert C.by_form("Mice").name == "mouse"
    assert C.by_form("rose").name == "roses"
    assert C.by_form("cathedral") is None
    assert "foxes" in C.by_name("fox").forms and "buses" in C.by_name("bus").forms
    with pytest.raises(KeyError, match="unknown class"):
        C.by_name("unicorn")


def test_conflict_neighbour_wraps_within_id() -> None:
    assert C.next_class_id(0) == 1 and C.next_class_id(41) == 0
    with pytest.raises(ValueError):
        C.next_class_id(42)


def _literal_class_lists(tree: ast.AST) -> list[int]:
    """Line numbers of list/tuple/set literals (or split strings) holding 10+ class names."""
    names = set(C.NAMES)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if len(words & names) >= 10:
                hits.append(node.lineno)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and len(set(node.value.split()) & names) >= 10
        ):
            hits.append(node.lineno)
    return hits


def test_no_other_module_spells_the_class_list() -> None:
    src = Path(C.__file__).parent
    offenders = []
    for path in src.rglob("*.py"):
        if path.name == "classes.py" and path.parent == src:
            continue
        lines = _literal_class_lists(ast.parse(path.read_text("utf-8")))
        offenders += [f"{path.relative_to(src)}:{n}" for n in lines]
    assert not offenders, f"class lists outside classes.py: {offenders}"
