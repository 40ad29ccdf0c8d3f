"""The layering DESIGN.md draws, held by tests: no import cycle among the package's modules, and
aiohttp imported only by the transport (and the emulator, a server)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aiotofu"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, typing_too: bool) -> tuple[set[str], set[str]]:
    """(modules of the package, third-party top-level names) that ``path`` imports; those
    under ``if TYPE_CHECKING:`` only if ``typing_too``."""
    tree = ast.parse(path.read_text())
    checking = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for child in ast.walk(node)
    }
    own: set[str] = set()
    third: set[str] = set()
    base = module_name(path).split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    for node in ast.walk(tree):
        if id(node) in checking and not typing_too:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            anchor = base[: len(base) - (node.level - 1)]
            if node.module:
                own.add(".".join([*anchor, node.module]))
            else:
                own.update(".".join([*anchor, alias.name]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            third.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            third.update(alias.name.split(".")[0] for alias in node.names)
    return own, third


# A cycle is a cycle for the reader even when only type hints close it: those count here.
MODULES = {module_name(path): imports(path, typing_too=True) for path in PACKAGE.rglob("*.py")}
RUNTIME = {module_name(path): imports(path, typing_too=False) for path in PACKAGE.rglob("*.py")}


def test_no_module_imports_itself_through_others() -> None:
    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            module, path = stack.pop()
            for imported in MODULES.get(module, (set(), set()))[0]:
                if imported == start:
                    return [*path, imported]
                # The package's __init__ only re-exports: it is where everything meets.
                if imported in MODULES and imported != "aiotofu" and imported not in path:
                    stack.append((imported, [*path, imported]))
        return None

    cycles = [cycle for name in MODULES if name != "aiotofu" if (cycle := cycle_from(name))]
    assert cycles == []


def test_aiohttp_is_imported_only_by_the_transport_and_the_emulator() -> None:
    importers = sorted(name for name, (_, third) in RUNTIME.items() if "aiohttp" in third)
    allowed = {"aiotofu._transport"} | {
        name for name in MODULES if name.startswith("aiotofu._emulator")
    }
    assert importers
    assert set(importers) <= allowed, importers
