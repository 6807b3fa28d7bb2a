"""The README's blocks marked ``<!-- ci:NAME -->`` (the one parser: .ci/readme_block.py)."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

block = runpy.run_path(str(ROOT / ".ci" / "readme_block.py"))["block"]
