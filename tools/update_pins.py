"""Regenerate the ``constraint-dependencies`` pins in the root pyproject.toml.

Resolves the workspace afresh (pins removed), exports every package uv chose, transitive ones and
the dev group included, and writes them back as plain ``name==version`` lines. Run with
``make pins`` after changing a dependency; commit the pyproject.toml diff.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
UV = str(ROOT / ".tools" / "bin" / "uv")
BLOCK = re.compile(r"constraint-dependencies = \[.*?\]", re.DOTALL)


def write_pins(pins: list[str]) -> None:
    body = "".join(f'    "{pin}",\n' for pin in pins)
    text = BLOCK.sub(f"constraint-dependencies = [\n{body}]", PYPROJECT.read_text(), count=1)
    PYPROJECT.write_text(text)


def main() -> int:
    original = PYPROJECT.read_text()
    write_pins([])
    try:
        subprocess.run([UV, "lock", "--quiet", "--upgrade"], check=True, cwd=ROOT)
        exported = subprocess.run(
            [UV, "export", "--quiet", "--all-packages", "--all-groups", "--no-hashes",
             "--no-emit-workspace", "--no-header", "--no-annotate", "--format", "requirements-txt"],
            check=True, cwd=ROOT, capture_output=True, text=True,
        ).stdout
    except subprocess.CalledProcessError:
        PYPROJECT.write_text(original)
        raise
    # Markers stay: uv may choose different versions per Python (quart 0.23 needs 3.12, say).
    pins = sorted(
        {" ".join(line.split()) for line in exported.splitlines() if "==" in line},
        key=str.lower,
    )
    write_pins(pins)
    print(f"pinned {len(pins)} packages in {PYPROJECT.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
