"""What the published metadata says, held by tests: the extras users and packagers install, the
Python versions it claims, its links, its changelog, and that CI runs the README's test command.

They read the installed distribution's metadata (what a wheel publishes), not pyproject.toml, so
that they hold what users get; an editable install reads as the pyproject it was installed from."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
META = metadata("aiotofu")

# Tools only the project itself runs, and the SDK it pins for conformance: never in `test`.
PROJECT_TOOLS = {"tofupilot", "mypy", "ruff", "pyright"}
# The newest Python the project says it supports; the floor is requires-python's.
NEWEST_PYTHON = (3, 13)


def extra(name: str) -> dict[str, Requirement]:
    """The requirements of extra ``name``, by normalised project name."""
    found: dict[str, Requirement] = {}
    for line in META.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is not None and req.marker.evaluate({"extra": name}):
            found[req.name.lower().replace("_", "-")] = req
    return found


def test_the_published_test_extra_holds_no_pin_and_no_project_tool() -> None:
    test = extra("test")
    assert "pytest" in test
    assert not PROJECT_TOOLS & test.keys()
    pinned = [str(req) for req in test.values() if any(s.operator == "==" for s in req.specifier)]
    assert not pinned


def test_the_dev_extra_holds_the_pinned_sdk_and_the_tools_ci_runs() -> None:
    dev = extra("dev")
    assert dev.keys() >= PROJECT_TOOLS
    # One SDK version for conformance and benchmarks alike.
    assert str(dev["tofupilot"].specifier) == "==2.26.1"
    assert dev["tofupilot"].specifier == extra("bench")["tofupilot"].specifier


def test_a_classifier_for_each_supported_python_version() -> None:
    floor = SpecifierSet(META["Requires-Python"])
    supported = [f"3.{minor}" for minor in range(NEWEST_PYTHON[1] + 1) if f"3.{minor}" in floor]
    assert supported[0] == "3.10"
    claimed = {
        c.removeprefix("Programming Language :: Python :: ")
        for c in META.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert claimed == set(supported)


def test_every_project_url_is_https_and_labelled() -> None:
    urls = [entry.split(", ", 1) for entry in META.get_all("Project-URL") or []]
    assert urls
    for label, url in urls:
        assert label.strip()
        assert url.startswith("https://"), url


def test_the_changelog_has_a_section_for_this_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "Keep a Changelog" in changelog
    version = re.escape(META["Version"])
    assert re.search(rf"^## \[{version}\] - (Unreleased|\d{{4}}-\d\d-\d\d)$", changelog, re.M)


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^python3 -m venv .*$", readme, re.M)
    tests = [command for command in commands if "pytest" in command]
    assert len(tests) == 1, commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests[0] in ci


def test_the_dask_extra_brings_distributed_and_the_test_extra_tests_it() -> None:
    """``aiotofu[dask]`` installs what ``aiotofu.dask`` imports (a cluster is the point), and
    the `test` extra the same, so that the README's test command runs its tests."""
    for name in ("dask", "test"):
        assert extra(name)["dask"].extras == {"distributed"}, name
    assert extra("dask")["dask"].specifier == extra("test")["dask"].specifier


def test_the_dlt_extra_brings_dlt_and_duckdb_and_the_test_extra_tests_them() -> None:
    """``aiotofu[dlt]`` installs what ``aiotofu.dlt`` imports and the DuckDB ``aiotofu load``
    writes to; the `test` extra the same, so that the README's test command runs their tests."""
    for name in ("dlt", "test"):
        assert {"dlt", "duckdb"} <= set(extra(name)), name
        assert "1.31" in str(extra(name)["dlt"].specifier), name


@pytest.mark.slow
def test_user_code_type_checks_against_the_contributor_venvs_aiotofu(tmp_path: Path) -> None:
    """``mypy --strict`` on a user's script outside the checkout sees aiotofu's types in the
    README's test venv (issue 25, item 12): setuptools' default editable install is an import
    hook that no type checker runs, so aiotofu was "not found"; setup.cfg asks for the
    ``compat`` mode, a plain path in a ``.pth``, which mypy and pyright read."""
    pytest.importorskip("mypy")
    script = tmp_path / "user.py"
    script.write_text(
        "import aiotofu\n\n\n"
        "def count(client: aiotofu.SyncClient) -> int:\n"
        "    return len(client.batches.list(page_size=100).collect())\n\n\n"
        "wrong: str = aiotofu.RetryPolicy().attempts\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Cannot find implementation or library stub" not in result.stdout, result.stdout
    # aiotofu's types are seen: the one deliberate error is found, and it is the only one.
    assert result.stdout.splitlines()[-1] == "Found 1 error in 1 file (checked 1 source file)"
    assert 'expression has type "int", variable has type "str"' in result.stdout
