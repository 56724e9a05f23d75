"""Structure of the model code (issue 23): agents make their own decisions, the model keeps its state in __init__.

An ast scan of market/ and agents/ finds assignments to attributes of objects other than `self` (`h.power_price =
...`, `vendor.margin += ...`, `setattr(other, ...)`) outside that object's own class's methods; none may remain
beyond the explicit allow-list below. A second scan checks that ComputeMarket sets no attribute outside __init__
that __init__ does not set first.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("market", "agents")

# (file, function, target) writes to another object's attribute that remain, each with why.
ALLOWED: set[tuple[str, str, str]] = set()  # no exceptions left: every write is the owner's own


def _targets(node: ast.AST):
    """Attribute targets written by an assignment-like node (assign, augmented or annotated assign, setattr)."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        targets = [node.target]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" and node.args:
        yield node.args[0], "setattr"
        return
    else:
        return
    stack = list(targets)
    while stack:
        t = stack.pop()
        if isinstance(t, ast.Tuple | ast.List):
            stack.extend(t.elts)
        elif isinstance(t, ast.Attribute):
            yield t.value, t.attr


def _own_class_names(function: ast.FunctionDef, cls: str | None) -> set[str]:
    """Names in `function` (a method of class `cls`) bound to an object of that class: parameters annotated with
    it and names assigned `cls(...)`; a class's methods may write the attributes of its own instances."""
    if cls is None:
        return set()
    names = {a.arg for a in function.args.args + function.args.kwonlyargs
             if a.annotation is not None and ast.unparse(a.annotation).strip("'\"") == cls}
    for node in ast.walk(function):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id == cls):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def foreign_attribute_writes() -> list[tuple[str, str, str]]:
    """(file, enclosing function, `obj.attr`) for each write to an attribute of an object other than `self` (or an
    instance of the enclosing class, in its own methods)."""
    found = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).glob("*.py")):
            tree = ast.parse(path.read_text())
            rel = path.relative_to(ROOT).as_posix()

            def visit(node, function="<module>", cls=None, own=frozenset(), rel=rel):
                for child in ast.iter_child_nodes(node):
                    name, child_cls, child_own = function, cls, own
                    if isinstance(child, ast.ClassDef):
                        child_cls = child.name
                    elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                        name, child_own = child.name, own | _own_class_names(child, cls)
                    for obj, attr in _targets(child):
                        if not (isinstance(obj, ast.Name) and (obj.id in ("self", "cls") or obj.id in own)):
                            found.append((rel, name, f"{ast.unparse(obj)}.{attr}"))
                    visit(child, name, child_cls, child_own)

            visit(tree)
    return found


def test_no_object_writes_another_objects_attributes():
    found = set(foreign_attribute_writes())
    assert found - ALLOWED == set(), "\n".join(sorted(f"{f}:{fn}: {t}" for f, fn, t in found - ALLOWED))
    assert ALLOWED - found == set(), "allow-list entries that no longer occur: remove them"


def _init_attributes(cls: ast.ClassDef) -> set[str]:
    init = next(f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    return {attr for node in ast.walk(init) for obj, attr in _targets(node)
            if isinstance(obj, ast.Name) and obj.id == "self"}


def test_compute_market_sets_its_attributes_in_init():
    tree = ast.parse((ROOT / "market" / "model.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ComputeMarket")
    first_set = _init_attributes(cls)
    late = []
    for f in cls.body:
        if isinstance(f, ast.FunctionDef) and f.name != "__init__":
            late += [f"{f.name}: self.{attr}" for node in ast.walk(f) for obj, attr in _targets(node)
                     if isinstance(obj, ast.Name) and obj.id == "self" and attr not in first_set]
    assert late == []
