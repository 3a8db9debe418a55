"""The house's shape, checked: data flows one way between the stage packages (no import cycle, module-level or
inside a function), and the runtime side (what a Raspberry Pi runs) imports nothing heavy at module level."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "edgellm"
HEAVY = {"torch", "transformers", "tensorflow", "litert_torch", "ai_edge_quantizer", "jax", "datasets"}
# what `edgellm bench`, `inspect` and `generate` import: numpy, a LiteRT runtime, tokenizers, jinja2
RUNTIME_SIDE = ("bench", "generate", "runtime", "manifest.py", "errors.py")
CONVERT_SIDE = {"archs", "convert", "calibrate", "quantize", "validate", "bundle", "export"}


def _imports(path: Path, root: Path, *, module_level_only: bool = False) -> list[tuple[str, int]]:
    """(imported module, line) of every import in ``path``; relative imports resolved against ``root``."""
    module = ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                keep = len(base) - node.level + (1 if path.name == "__init__.py" else 0)
                found.append((".".join(base[:keep] + ([node.module] if node.module else [])), node.lineno))
            elif node.module:
                found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
    return found


def package_graph(root: Path) -> dict[str, dict[str, str]]:
    """{sub-package: {sub-package it imports: "file:line"}}; top-level modules (export.py, cli.py, ...) are not
    stages and stay out."""
    def package_of(name: str) -> str | None:
        parts = name.split(".")
        return parts[1] if len(parts) >= 2 and parts[0] == root.name and (root / parts[1]).is_dir() else None

    graph: dict[str, dict[str, str]] = {}
    for path in sorted(root.rglob("*.py")):
        here = package_of(".".join(path.relative_to(root.parent).with_suffix("").parts))
        if here is None:
            continue
        for target, line in _imports(path, root):
            there = package_of(target)
            if there is not None and there != here:
                graph.setdefault(here, {}).setdefault(there, f"{path.relative_to(root.parent)}:{line}")
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [node, nxt] if nxt in stack else [node, nxt]
            if nxt not in state:
                found = visit(nxt, stack + [node])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_import_cycle_between_packages():
    graph = package_graph(PACKAGE)
    cycle = find_cycle(graph)
    where = [graph[a][b] for a, b in zip(cycle, cycle[1:])] if cycle else []
    assert cycle is None, f"packages import each other: {' -> '.join(cycle)} ({', '.join(where)})"


def test_cycle_check_finds_a_cycle(tmp_path):
    root = tmp_path / "edgellm"
    for pkg, body in {"a": "from edgellm.b import x\n", "b": "def f():\n    from edgellm.c import y\n",
                      "c": "import edgellm.a.z\n"}.items():
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text(body)
    assert find_cycle(package_graph(root)) == ["a", "b", "c", "a"]
    (root / "c" / "__init__.py").write_text("")
    assert find_cycle(package_graph(root)) is None


def _runtime_files() -> list[Path]:
    files = []
    for name in RUNTIME_SIDE:
        path = PACKAGE / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


@pytest.mark.parametrize("path", _runtime_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_runtime_side_imports_nothing_heavy_at_module_level(path):
    """Heavy libraries and the convert-side packages only inside the functions that need them."""
    bad = [f"{target} (line {line})" for target, line in _imports(path, PACKAGE, module_level_only=True)
           if target.split(".")[0] in HEAVY
           or (target.startswith("edgellm.") and target.split(".")[1] in CONVERT_SIDE)]
    assert not bad, f"{path.relative_to(PACKAGE.parent)} imports at module level: {', '.join(bad)}"
