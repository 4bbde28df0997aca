"""The package map's import rule (docs/ARCHITECTURE.md, "Flow"): a module imports only from its own
layer or the layers below it. Every `import` / `from ... import` of every module under `medbench/`
counts, at module level or inside a function (a lazy import is still a dependency); the only
exceptions are `ALLOWED`, each with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "medbench"

#: lowest first; a module belongs to the layer of its longest matching prefix
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("medbench", "medbench.errors", "medbench.config", "medbench.io", "medbench.progress",
              "medbench.registry", "medbench.splits")),
    ("store", ("medbench.store",)),
    ("extract", ("medbench.extract",)),
    ("release", ("medbench.release", "medbench.datause")),
    ("tasks", ("medbench.tasks",)),
    ("models", ("medbench.models",)),
    ("run", ("medbench.run", "medbench.submission_schema", "medbench.prompting", "medbench.batch")),
    ("scoring", ("medbench.scoring",)),
    ("publish", ("medbench.publish",)),
    ("apps", ("medbench.pipeline", "medbench.evalplan", "medbench.build", "medbench.generate",
              "medbench.export", "medbench.train")),
    ("commands", ("medbench.commands",)),
    ("cli", ("medbench.cli",)),
]

#: (importing module, imported module) -> why this upward import is allowed
ALLOWED: dict[tuple[str, str], str] = {
    ("medbench.train.__main__", "medbench.cli"):
        "`accelerate launch -m medbench.train ...` is an entry point: it runs the CLI's train command",
}


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = rank, len(p)
    if best is None:
        raise AssertionError(f"module {module} is in no layer of tests/test_architecture.py: add it")
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported medbench module, line) for every import statement in the file."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "medbench"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "medbench":
                out.append((mod, node.lineno))
    return out


def upward_imports(root: Path = PKG) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        src = module_name(path)
        for target, line in imports_of(path):
            if layer_of(target) > layer_of(src) and (src, target) not in ALLOWED:
                bad.append(f"{path.relative_to(root.parent)}:{line}: {src} ({LAYERS[layer_of(src)][0]}) "
                           f"imports {target} ({LAYERS[layer_of(target)][0]})")
    return bad


def test_no_module_imports_a_higher_layer():
    bad = upward_imports()
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_every_allowed_exception_is_still_needed():
    found = {(module_name(p), t) for p in PKG.rglob("*.py") for t, _ in imports_of(p)}
    stale = [k for k in ALLOWED if k not in found]
    assert not stale, f"ALLOWED lists imports that no longer exist: {stale}"


def test_the_checker_catches_an_upward_import(tmp_path, monkeypatch):
    """A lower layer importing a higher one, at module level or lazily in a function, fails."""
    pkg = tmp_path / "medbench"
    (pkg / "tasks").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks" / "__init__.py").write_text("")
    (pkg / "tasks" / "lazy.py").write_text("def f():\n    from medbench.publish import site\n")
    (pkg / "tasks" / "eager.py").write_text("from ..scoring import score\n")
    (pkg / "tasks" / "fine.py").write_text("from medbench.release import open_release\nfrom . import lazy\n")
    import test_architecture as me

    monkeypatch.setattr(me, "PKG", pkg)
    bad = me.upward_imports(pkg)
    assert len(bad) == 2, bad
    assert any("tasks.lazy" in b and "medbench.publish" in b for b in bad)
    assert any("tasks.eager" in b and "medbench.scoring" in b for b in bad)


@pytest.mark.parametrize("module,layer", [("medbench.release", "release"), ("medbench.splits", "core"),
                                          ("medbench.tasks.sql.metrics", "tasks"),
                                          ("medbench.pipeline", "apps")])
def test_layer_names(module, layer):
    assert LAYERS[layer_of(module)][0] == layer


# ---------------------------------------------------------------- no per-task branches outside the families

def _family_names() -> tuple[str, ...]:
    from medbench.tasks import FAMILIES

    return tuple(FAMILIES.targets)


#: the registered family names (a comparison with one of these outside `medbench/tasks/` is a
#: per-task branch that belongs behind the family contract)
FAMILY_NAMES = _family_names()


def task_name_branches(root: Path = PKG) -> list[str]:
    """`x == "sql"` / `x != "icd"` / `x in ("sql", ...)` where x names a task (an identifier,
    attribute or subscript key containing "task"), in any module outside `medbench/tasks/`."""
    def names_a_task(node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return "task" in node.id
        if isinstance(node, ast.Attribute):
            return "task" in node.attr
        if isinstance(node, ast.Subscript):
            key = node.slice
            return isinstance(key, ast.Constant) and isinstance(key.value, str) and "task" in key.value
        return False

    def family_literal(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in FAMILY_NAMES
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(family_literal(e) for e in node.elts)
        return False

    bad = []
    for path in sorted(root.rglob("*.py")):
        if (root / "tasks") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            ops_ok = any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops)
            if ops_ok and any(names_a_task(s) for s in sides) and any(family_literal(s) for s in sides):
                bad.append(f"{path.relative_to(root.parent)}:{node.lineno}: {ast.unparse(node)}")
    return bad


def test_no_per_task_branch_outside_the_families():
    """What differs per family (item cards, outcome labels, breakdowns, output rates, training
    rows and guards, default plan tasks) is asked of the family, never branched on by name."""
    bad = task_name_branches()
    assert not bad, "per-task branches outside medbench/tasks/ (declare it on the family):\n" + "\n".join(bad)


def test_the_task_branch_checker_catches_one(tmp_path):
    pkg = tmp_path / "medbench"
    (pkg / "publish").mkdir(parents=True)
    (pkg / "tasks").mkdir()
    (pkg / "publish" / "x.py").write_text('def f(r, task):\n    return r["task"] == "sql" or task in ("icd",)\n')
    (pkg / "tasks" / "y.py").write_text('def g(task):\n    return task == "sql"\n')  # inside a family: fine
    (pkg / "publish" / "z.py").write_text('def h(engine):\n    return engine == "sqlite"\n')
    bad = task_name_branches(pkg)
    assert len(bad) == 2 and all("publish/x.py:2" in b for b in bad), bad
