"""The import rules of DESIGN.md, checked on the source: stages read no files and do not know
the loader, demand does not import cost, the kernel is pure, and nothing imports in a cycle."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "forecast"

STAGE_RULES = {
    "population": ("inputs", "scenario", "api", "cli", "demand", "cost", "io"),
    "demand": ("inputs", "scenario", "api", "cli", "cost", "io"),
    "cost": ("inputs", "scenario", "api", "cli", "demand", "io"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every forecast module `path` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("forecast")}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            if not mod.startswith("forecast"):
                continue
            out.add(mod)
            for alias in node.names:  # `from . import kernel` names a module
                if (PACKAGE.parent / (mod.replace(".", "/") + f"/{alias.name}.py")).exists():
                    out.add(f"{mod}.{alias.name}")
    return out


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGE_RULES else None


@pytest.mark.parametrize("name", [n for n in MODULES if stage_of(n)])
def test_stages_import_no_loader_or_later_stage(name):
    banned = STAGE_RULES[stage_of(name)]
    bad = [m for m in imports(MODULES[name]) if m.split(".")[1:2] and m.split(".")[1] in banned]
    assert not bad, f"{name} imports {bad}"


def test_kernel_imports_nothing_of_the_package():
    # the draws' kernel is generated into a module of its own (draws_source.py); it is pure too
    assert imports(MODULES["forecast.population.kernel"]) == {"forecast.population.draws_kernel"}
    assert imports(MODULES["forecast.population.draws_kernel"]) == set()


def test_no_import_cycles():
    graph = {name: {m for m in imports(path) if m in MODULES and m != name}
             for name, path in MODULES.items()}
    # a package's __init__ importing its own submodules is not a cycle of concepts
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
