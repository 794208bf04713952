"""The planted-fault check (tools/planted_faults.py, issue 19) on its fast faults: each small wrong number
or dropped check planted in a copy of the package must fail a test. The full list (the fast/exact matrix
faults too) runs with `.venv/bin/python tools/planted_faults.py`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "planted_faults.py"


@pytest.mark.planted_faults
def test_every_fast_planted_fault_is_caught():
    proc = subprocess.run([sys.executable, str(TOOL), "--fast", "--json"], capture_output=True, text=True,
                          timeout=600)
    if not proc.stdout.strip():
        pytest.fail(f"planted_faults.py gave no report (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    survived = [f["fault"] for f in report["faults"] if not f["caught"]]
    assert not survived, f"planted faults no test catches: {survived}"
    assert report["planted"] >= 10 and report["caught"] == report["planted"]
    assert proc.returncode == 0
