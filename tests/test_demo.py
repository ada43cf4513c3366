"""The README's main job (scripts/example runs examples/demo.sh) works, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_shows_the_edited_products_two_versions(tmp_path: Path) -> None:
    env = {**os.environ, "SYNCLINE_EXAMPLE_DIR": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "examples/demo.sh"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    history = done.stdout.split("==> The history of the edited product")[1]
    versions = [line for line in history.splitlines() if line.startswith("#")]
    assert len(versions) == 2
    assert "insert by demo" in versions[0] and "initial load from the POS" in versions[0]
    assert "update by alice" in versions[1] and "price change at the register" in versions[1]
    assert "price: Decimal(" in history.split(versions[1])[1]
