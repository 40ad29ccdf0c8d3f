"""The README's examples run, and its Guarantees name tests that exist.

Convention: a ```python block in README.md is a complete script and is run here against the
emulator (TOFUPILOT_API_KEY and TOFUPILOT_URL set); a ```py block is an illustrative fragment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aiotofu.testing import Emulator

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SCRIPTS = re.findall(r"```python\n(.*?)```", README, re.DOTALL)


def test_the_readme_has_runnable_examples() -> None:
    assert len(SCRIPTS) >= 6


def run(
    script: str, emu: Emulator, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TOFUPILOT_API_KEY": emu.api_key, "TOFUPILOT_URL": emu.base_url}
    env["DLT_DATA_DIR"] = str(cwd / "dlt")  # the Analysis example's pipeline state, not ~/.dlt
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "script", [s for s in SCRIPTS if ".watch(" not in s], ids=lambda s: s.split("\n\n")[-2][:40]
)
@pytest.mark.slow
def test_each_example_runs(script: str, threaded_emu: Emulator, tmp_path: Path) -> None:
    result = run(script, threaded_emu, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_resume_example_continues_where_it_stopped(
    threaded_emu: Emulator, tmp_path: Path
) -> None:
    [script] = [s for s in SCRIPTS if "resume_token" in s and ".watch(" not in s]
    first = run(script, threaded_emu, tmp_path).stdout.split()
    second = run(script, threaded_emu, tmp_path).stdout.split()
    whole = run(script.replace("max_items=100", "max_items=200"), threaded_emu, tmp_path / "..")
    assert len(first) == len(second) == 100
    assert first + second == whole.stdout.split()


@pytest.mark.slow
def test_the_watch_example_prints_new_batches(threaded_emu: Emulator, tmp_path: Path) -> None:
    [script] = [s for s in SCRIPTS if "client.batches.watch(" in s]
    env = {
        **os.environ,
        "TOFUPILOT_API_KEY": threaded_emu.api_key,
        "TOFUPILOT_URL": threaded_emu.base_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        for _ in range(500):  # until the watch has read where it starts
            if threaded_emu.stats["requests"] >= 2:
                break
            time.sleep(0.02)
        threaded_emu.add_batch("README-WATCHED", units=[("SN-README", "PCB-V1.2", "1.0")])
        threaded_emu.add_batch("README-OTHER-PART", units=[("SN-OTHER", "PSU-220", "A")])
        threaded_emu.add_batch("README-WATCHED-2", units=[("SN-README-2", "PCB-V1.2", "2.0")])
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
    finally:
        process.terminate()
        process.communicate(timeout=10)
    # The backlog (counted up to where the watch starts), then only what was created after.
    assert lines[0].startswith("backlog: ")
    assert int(lines[0].split()[1]) > 0
    assert lines[1:] == ["new batch: README-WATCHED\n", "new batch: README-WATCHED-2\n"]


@pytest.mark.slow
def test_the_run_daemon_follows_failures_and_continues_after_a_restart(
    threaded_emu: Emulator, tmp_path: Path
) -> None:
    """The daemon example: only failed runs, each once; stopped, it misses nothing uploaded
    while it was down; restarted, it repeats nothing."""
    [script] = [s for s in SCRIPTS if "client.runs.watch(" in s]

    def start() -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "TOFUPILOT_API_KEY": threaded_emu.api_key,
            "TOFUPILOT_URL": threaded_emu.base_url,
        }
        process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        # A daemon that stays silent must fail the test, not hang it: killed, its stdout ends.
        watchdog = threading.Timer(60, process.kill)
        watchdog.daemon = True
        watchdog.start()
        assert process.stdout is not None
        assert process.stdout.readline() == "following failed runs\n"
        return process

    def stop(process: subprocess.Popen[str]) -> str:
        process.terminate()
        _, err = process.communicate(timeout=10)
        return err

    def next_poll() -> None:
        """Until the daemon asks for more: it has kept the token of what it printed (killed
        between printing a run and keeping its token, it would print that run again)."""
        printed = time.monotonic()
        for _ in range(500):
            if any(r.at > printed and "/v2/runs" in r.path_qs for r in threaded_emu.log):
                return
            time.sleep(0.02)
        raise AssertionError("the daemon did not poll again")

    first = start()
    try:
        threaded_emu.add_run(procedure="ICT", outcome="FAIL", serial_number="SN-0000001-00")
        threaded_emu.add_run(procedure="ICT", outcome="PASS")
        threaded_emu.add_run(procedure="Burn-in", outcome="ERROR", serial_number="SN-0000002-00")
        assert first.stdout is not None
        lines = [first.stdout.readline() for _ in range(2)]
        next_poll()
    finally:
        stop(first)
    assert lines == ["FAIL ICT SN-0000001-00\n", "ERROR Burn-in SN-0000002-00\n"]
    assert (tmp_path / "failed-runs.token").exists()
    threaded_emu.add_run(procedure="Final QA", outcome="FAIL", serial_number="SN-0000003-00")
    second = start()
    try:
        assert second.stdout is not None
        assert second.stdout.readline() == "FAIL Final QA SN-0000003-00\n"
        threaded_emu.add_run(procedure="ICT", outcome="TIMEOUT")
        threaded_emu.add_run(procedure="ICT", outcome="FAIL", serial_number="SN-0000004-00")
        assert second.stdout.readline() == "FAIL ICT SN-0000004-00\n"
    finally:
        stop(second)


def test_every_test_the_guarantees_name_exists() -> None:
    guarantees = README.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", guarantees)
    assert len(named) >= 15
    for path, name in named:
        source = (ROOT / path).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), f"{path}::{name}"
