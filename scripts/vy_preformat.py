"""What ``make format-vy`` does to the ``.vy`` files before mamushi, in place: the layout
mamushi 0.1.2 cannot parse or does not fix, and natrix (``make lint``) asks for. The compiled code
is unchanged (``make check-vy-bytecode`` checks it).

* every multi-line ``initializes:`` declaration on one line (mamushi cannot parse a split one):
  ``initializes: m[\\n    a := a,\\n    b := b,\\n]`` becomes ``initializes: m[a := a, b := b]``;
* function decorators in natrix's order (NTX12): visibility, mutability, then the rest.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_SPLIT = re.compile(r"^initializes: (\w+)\[\n((?:[ \t]+[^\n]*\n)+?)\]$", re.MULTILINE)
_DECORATORS = re.compile(r"^(?:@\w+[^\n]*\n)+(?=def )", re.MULTILINE)
_RANK = {"external": 0, "internal": 0, "deploy": 0, "pure": 1, "view": 1, "nonpayable": 1, "payable": 1}


def preformat(text: str) -> str:
    """``text`` with split declarations joined and decorators ordered."""

    def one_line(m: re.Match[str]) -> str:
        items = [item.strip().rstrip(",") for item in m.group(2).splitlines() if item.strip()]
        return f"initializes: {m.group(1)}[{', '.join(items)}]"

    def ordered(m: re.Match[str]) -> str:
        lines = m.group(0).splitlines(keepends=True)
        return "".join(sorted(lines, key=lambda line: _RANK.get(re.split(r"\W", line[1:], maxsplit=1)[0], 2)))

    return _DECORATORS.sub(ordered, _SPLIT.sub(one_line, text))


def main(paths: list[str]) -> int:
    for name in paths:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        new = preformat(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"preformatted {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
