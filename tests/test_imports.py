"""What importing aiotofu costs: the emulator (aiohttp's server and SQLite) is loaded only by
the code that runs one, never by ``import aiotofu``, ``import aiotofu.testing`` for its
MockTransport or virtual clock, nor by the command line's list and watch commands.

Each check runs in a fresh interpreter, since this test process has long loaded everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import aiotofu.testing
from aiotofu.testing import Emulator

# What running an emulator needs, and nothing else of aiotofu should.
HEAVY = ("aiohttp.web", "sqlite3", "aiotofu._emulator")


def loaded_after(script: str) -> dict[str, object]:
    """Run ``script`` in a fresh interpreter; it ends by printing ``result`` (a dict) as JSON,
    to which the heavy modules then loaded are added under ``"heavy"``."""
    code = textwrap.dedent(script) + textwrap.dedent(
        f"""
        import json as _json, sys as _sys
        result["heavy"] = sorted(name for name in {HEAVY!r} if name in _sys.modules)
        print(_json.dumps(result))
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return answer


@pytest.mark.slow
@pytest.mark.parametrize("module", ["aiotofu", "aiotofu.testing", "aiotofu.cli"])
def test_importing_loads_no_emulator(module: str) -> None:
    assert loaded_after(f"import {module}\nresult = {{}}") == {"heavy": []}


@pytest.mark.slow
def test_mock_transport_and_virtual_clock_work_without_the_emulator() -> None:
    """The helpers a unit test wants, used for real: a listing answered by a MockTransport,
    with a 503 retried under the virtual clock."""
    result = loaded_after(
        """
        import asyncio
        import aiotofu
        from aiotofu.testing import MockTransport, json_response, virtual_clock

        answers = [
            json_response({"error": "busy"}, status=503),
            json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}}),
        ]

        async def main():
            transport = MockTransport(lambda request: answers.pop(0))
            async with aiotofu.Client("key", transport=transport) as client:
                return await client.batches.list().collect(), len(transport.requests)

        with virtual_clock() as clock:
            records, requests = asyncio.run(main())
        result = {"records": len(records), "requests": requests, "waits": len(clock.sleeps)}
        """
    )
    assert result == {"records": 0, "requests": 2, "waits": 1, "heavy": []}


@pytest.mark.slow
def test_the_list_command_loads_no_emulator(threaded_emu: Emulator) -> None:
    """``aiotofu runs list`` against an emulator in another thread of this process: the
    command's whole path (parser, client, listing, output) runs in the fresh interpreter."""
    result = loaded_after(
        f"""
        import contextlib, io
        from aiotofu.cli import main

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(["runs", "list", "--max-items", "7", "--format", "jsonl",
                           "--base-url", {threaded_emu.base_url!r},
                           "--api-key", {threaded_emu.api_key!r}])
        result = {{"status": status, "lines": len(out.getvalue().splitlines())}}
        """
    )
    assert result == {"status": 0, "lines": 7, "heavy": []}


@pytest.mark.slow
def test_the_watch_command_loads_no_emulator(threaded_emu: Emulator) -> None:
    """``aiotofu runs watch`` through its first poll: with a key the server refuses, that poll
    ends the command (exit 1) instead of waiting for new runs."""
    result = loaded_after(
        f"""
        import contextlib, io
        from aiotofu.cli import main

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status = main(["runs", "watch", "--base-url", {threaded_emu.base_url!r},
                           "--api-key", "not-the-key"])
        result = {{"status": status, "error": err.getvalue()}}
        """
    )
    assert result["status"] == 1
    assert "AuthenticationError" in str(result["error"])
    assert result["heavy"] == []


def test_the_emulator_names_of_aiotofu_testing_still_resolve() -> None:
    """Loaded on first use, they are the emulator's own, listed by ``dir()`` and ``__all__``."""
    from aiotofu._emulator.app import LoggedRequest

    assert aiotofu.testing.LoggedRequest is LoggedRequest
    assert {"Emulator", "LoggedRequest", "emulator"} <= set(dir(aiotofu.testing))
    assert all(hasattr(aiotofu.testing, name) for name in aiotofu.testing.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Emulatr'"):
        aiotofu.testing.Emulatr  # noqa: B018 - the access is the test


@pytest.mark.slow
def test_importing_aiotofu_never_imports_dask() -> None:
    """``aiotofu.dask`` is the only module that imports Dask, and only ``import aiotofu.dask``
    loads it: not the package, its testing helpers or the command line."""
    result = loaded_after(
        """
        import sys
        import aiotofu, aiotofu.testing, aiotofu.cli
        result = {"dask": sorted(n for n in ("dask", "distributed") if n in sys.modules)}
        """
    )
    assert result == {"dask": [], "heavy": []}


@pytest.mark.slow
def test_aiotofu_dask_without_dask_says_which_extra_to_install() -> None:
    """Dask absent (a None in sys.modules makes its import fail as a missing package does):
    an ImportError that names the extra, and ``import aiotofu`` still works."""
    result = loaded_after(
        """
        import sys
        sys.modules["dask"] = None
        import aiotofu
        try:
            import aiotofu.dask
        except ImportError as exc:
            result = {"error": str(exc), "name": exc.name}
        else:
            result = {"error": None}
        """
    )
    assert "pip install 'aiotofu[dask]'" in str(result["error"])
    assert str(result["name"]).split(".")[0] == "dask"  # what failed to import


@pytest.mark.slow
def test_importing_aiotofu_never_imports_pyarrow_or_pandas() -> None:
    """The tables' extras are imported by the calls that make a table, never by the package,
    its testing helpers, the command line or ``aiotofu.dask`` (a bag needs neither)."""
    result = loaded_after(
        """
        import sys
        import aiotofu, aiotofu.testing, aiotofu.cli, aiotofu.dask
        aiotofu.schema  # noqa: B018 - the name resolves without pyarrow
        result = {"tables": sorted(n for n in ("pyarrow", "pandas") if n in sys.modules)}
        """
    )
    assert result == {"tables": [], "heavy": []}


@pytest.mark.slow
def test_tables_without_pyarrow_or_pandas_say_which_extra_to_install() -> None:
    """pyarrow (then pandas) absent: schema(), to_pandas() and the command line's Parquet say
    what to install, as an ImportError (one line, exit 2, on the command line)."""
    result = loaded_after(
        """
        import sys
        sys.modules["pyarrow"] = None
        import aiotofu, aiotofu.cli
        from aiotofu._tables import TableBuilder
        result = {}
        try:
            aiotofu.schema(aiotofu.Run)
        except ImportError as exc:
            result["arrow"] = str(exc)
        result["cli"] = aiotofu.cli.main(
            ["runs", "list", "--format", "parquet", "--output", "x.parquet", "--api-key", "k"]
        )
        del sys.modules["pyarrow"]
        sys.modules["pandas"] = None
        from aiotofu._tables import to_pandas
        try:
            to_pandas(TableBuilder(aiotofu.Run).table(), aiotofu.Run)
        except ImportError as exc:
            result["pandas"] = str(exc)
        """
    )
    assert "pip install 'aiotofu[arrow]'" in str(result["arrow"])
    assert result["cli"] == 2
    assert "pip install 'aiotofu[pandas]'" in str(result["pandas"])


@pytest.mark.slow
def test_importing_aiotofu_never_imports_opentelemetry() -> None:
    """Only making a Client looks for OpenTelemetry's API (the ``otel`` extra)."""
    result = loaded_after(
        """
        import sys
        import aiotofu, aiotofu.testing, aiotofu.cli
        result = {"otel": sorted(n for n in sys.modules if n.startswith("opentelemetry"))}
        """
    )
    assert result == {"otel": [], "heavy": []}


@pytest.mark.slow
def test_without_opentelemetry_a_client_does_nothing_of_it() -> None:
    """The API absent (a None in sys.modules fails its import as a missing package does): the
    client works, with no telemetry."""
    result = loaded_after(
        """
        import sys
        sys.modules["opentelemetry"] = None
        import aiotofu
        client = aiotofu.Client("key", base_url="https://tofupilot.corp/api")
        result = {"telemetry": repr(client._requester._telemetry)}
        """
    )
    assert result == {"telemetry": "None", "heavy": []}


@pytest.mark.slow
def test_importing_aiotofu_never_imports_dlt() -> None:
    """``aiotofu.dlt`` is the only module that imports dlt (and DuckDB is only dlt's): not the
    package, its testing helpers or the command line, whose ``load`` imports it when it runs."""
    result = loaded_after(
        """
        import sys
        import aiotofu, aiotofu.testing, aiotofu.cli
        result = {"dlt": sorted(n for n in ("dlt", "duckdb") if n in sys.modules)}
        """
    )
    assert result == {"dlt": [], "heavy": []}


@pytest.mark.slow
def test_aiotofu_dlt_without_dlt_says_which_extra_to_install() -> None:
    """dlt absent: an ImportError that names the extra, and ``import aiotofu`` still works."""
    result = loaded_after(
        """
        import sys
        sys.modules["dlt"] = None
        import aiotofu
        try:
            import aiotofu.dlt
        except ImportError as exc:
            result = {"error": str(exc), "name": exc.name}
        else:
            result = {"error": None}
        """
    )
    assert "pip install 'aiotofu[dlt]'" in str(result["error"])
    assert str(result["name"]).split(".")[0] == "dlt"


@pytest.mark.slow
def test_using_a_sync_client_never_imports_ipython_or_a_terminal_library() -> None:
    """SyncClient's notebook check reads IPython's state only where IPython is loaded, and
    the command line's status line and tables are its own: a SyncClient used and the CLI
    imported load neither IPython, ipykernel nor rich or tqdm."""
    result = loaded_after(
        """
        import asyncio, sys
        import aiotofu, aiotofu.cli

        async def refused() -> None:  # the check runs where a loop runs
            with aiotofu.SyncClient("k", base_url="http://127.0.0.1:9/api") as client:
                try:
                    client.batches.list().collect()
                except aiotofu.StateError:
                    return
            raise AssertionError("not refused")

        asyncio.run(refused())
        loaded = ("IPython", "ipykernel", "rich", "tqdm")
        result = {"loaded": sorted(n for n in loaded if n in sys.modules)}
        """
    )
    assert result == {"loaded": [], "heavy": []}
