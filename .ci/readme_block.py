"""Print the fenced block of README.md marked ``<!-- ci:NAME -->``, so CI runs the README's
own commands and snippets and they cannot drift apart. Tests load :func:`block` from here."""

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def block(name: str) -> str:
    match = re.search(
        rf"^<!-- ci:{re.escape(name)}( \([^)]*\))? -->\n```[a-z]*\n(.*?)^```$",
        README.read_text(),
        re.M | re.S,
    )
    if match is None:
        raise LookupError(f"README.md has no block marked <!-- ci:{name} -->")
    return match.group(2)


if __name__ == "__main__":
    try:
        sys.stdout.write(block(sys.argv[1]))
    except LookupError as exc:
        sys.exit(str(exc))
