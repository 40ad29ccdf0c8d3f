"""Every test that starts a Python subprocess carries ``@pytest.mark.slow``, so that
``pytest -m "not slow"`` is a quick run that still runs everything else (CI runs all)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
SPAWNS = ("subprocess.run", "subprocess.Popen")
Function = ast.FunctionDef | ast.AsyncFunctionDef


def spawning_tests(source: str) -> dict[str, bool]:
    """The tests of a module that start a subprocess, themselves or through a fixture or helper
    of the same module (by name), each with whether it is marked slow."""
    tree = ast.parse(source)
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, Function)}
    spawning = {name for name, f in functions.items() if any(s in ast.unparse(f) for s in SPAWNS)}
    grown = True
    while grown:  # a fixture that uses a helper that spawns spawns, and so on
        grown = False
        for name, function in functions.items():
            names = {a.arg for a in function.args.args}
            names |= {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
            if name not in spawning and names & spawning:
                spawning.add(name)
                grown = True
    whole_module = any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        and "mark.slow" in ast.unparse(node.value)
        for node in tree.body
    )
    return {
        name: whole_module
        or any("mark.slow" in ast.unparse(d) for d in functions[name].decorator_list)
        for name in spawning
        if name.startswith("test_")
    }


def test_the_finder_sees_a_subprocess_behind_a_fixture_and_an_unmarked_test() -> None:
    source = (
        "import subprocess, pytest\n"
        "@pytest.fixture\n"
        "def server():\n"
        "    return subprocess.Popen(['x'])\n"
        "def test_direct():\n"
        "    subprocess.run(['x'])\n"
        "@pytest.mark.slow\n"
        "def test_through_the_fixture(server):\n"
        "    pass\n"
        "def test_in_process():\n"
        "    pass\n"
    )
    assert spawning_tests(source) == {"test_direct": False, "test_through_the_fixture": True}


def test_every_test_that_starts_a_subprocess_is_marked_slow() -> None:
    found: dict[str, bool] = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        if path.resolve() == Path(__file__).resolve():
            continue  # this module's own example source is not a test that spawns
        for name, marked in spawning_tests(path.read_text()).items():
            found[f"{path.relative_to(TESTS)}::{name}"] = marked
    assert len(found) >= 10  # the finder still finds the CLI, README and exit tests
    assert [name for name, marked in found.items() if not marked] == []
