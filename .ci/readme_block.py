"""Print the fenced block of README.md marked ``<!-- ci:NAME -->``, so CI runs the README's
own setup commands and they cannot drift apart."""

import re
import sys
from pathlib import Path

name = sys.argv[1]
readme = Path(__file__).resolve().parent.parent / "README.md"
match = re.search(
    rf"^<!-- ci:{re.escape(name)}( \([^)]*\))? -->\n```[a-z]*\n(.*?)^```$",
    readme.read_text(),
    re.M | re.S,
)
if match is None:
    sys.exit(f"README.md has no block marked <!-- ci:{name} -->")
sys.stdout.write(match.group(2))
