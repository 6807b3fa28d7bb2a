"""Print the fenced block of README.md (or of the Markdown file given second, relative to the
repository) marked ``<!-- ci:NAME -->``, so CI runs the documents' own commands and they
cannot drift apart. Tests import :func:`block`."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def block(name: str, document: str = "README.md") -> str | None:
    match = re.search(
        rf"^<!-- ci:{re.escape(name)}( \([^)]*\))? -->\n```[a-z]*\n(.*?)^```$",
        (ROOT / document).read_text(),
        re.M | re.S,
    )
    return None if match is None else match.group(2)


if __name__ == "__main__":
    name, document = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "README.md"
    text = block(name, document)
    if text is None:
        sys.exit(f"{document} has no block marked <!-- ci:{name} -->")
    sys.stdout.write(text)
