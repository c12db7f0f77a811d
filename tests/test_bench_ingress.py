"""bench/ingress.py runs end to end on a few events: every server starts, every path is measured, nothing fails,
and the figures the performance goals are read from are printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_ingress_bench_measures_every_path() -> None:
    run = subprocess.run(
        [sys.executable, "bench/ingress.py", "--events", "64", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {tuple(line.split()[:2]): line.split() for line in run.stdout.splitlines() if line.split()}
    for path, server in [
        ("ignored", "hrbot"),
        ("ignored", "lark-oapi"),
        ("ignored", "stand-in"),
        ("ignored", "floor"),
        ("answered", "hrbot"),
        ("answered", "lark-oapi"),
        ("answered", "stand-in"),
        ("slow", "hrbot"),
    ]:
        row = rows[(path, server)]
        assert row[-1] == "0", f"{path} {server}: failed events in {row}"
        assert row[5].endswith("µs") and float(row[5].removesuffix("µs")) > 0
    for goal in (
        "the floor (goal <= 1.25x:",
        "the stand-in (goal <= 1.5x:",
        "the stand-in's (goal >= 0.7x:",
        "(goal <= 20 ms:",
        "(goal <= 50 ms:",
    ):
        assert goal in run.stdout
