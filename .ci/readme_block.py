"""Print the fenced block of README.md (or of the Markdown file given second, relative to the
repository) marked ``<!-- ci:NAME -->``, so CI runs the documents' own commands and snippets
and they cannot drift apart. Tests load :func:`block` from here."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def block(name: str, document: str = "README.md") -> str:
    match = re.search(
        rf"^<!-- ci:{re.escape(name)}( \([^)]*\))? -->\n```[a-z]*\n(.*?)^```$",
        (ROOT / document).read_text(),
        re.M | re.S,
    )
    if match is None:
        raise LookupError(f"{document} has no block marked <!-- ci:{name} -->")
    return match.group(2)


if __name__ == "__main__":
    try:
        sys.stdout.write(block(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "README.md"))
    except LookupError as exc:
        sys.exit(str(exc))
