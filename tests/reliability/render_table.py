"""Render the generated tables of ``docs/reliability.md`` from the catalogue.

    .venv/bin/python -m tests.reliability.render_table           # print them
    .venv/bin/python -m tests.reliability.render_table --write   # rewrite them in docs/reliability.md

Each table sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``;
``tests/reliability/test_bad_input.py`` fails when the file's tables differ from these.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tests.reliability.catalogue import CASES, ENTRIES, OTHER_SCENARIOS, Case

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
BAD_INPUT_TESTS = "tests/reliability/test_bad_input.py"
TEST_OF = {"Cli": "test_cli_case", "DagRun": "test_dag_case", "Registry": "test_registry_case"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def test_of(case: Case) -> str:
    return f"{BAD_INPUT_TESTS}::{TEST_OF[type(case.how).__name__]}"


def catalogue_table() -> str:
    lines = ["| kind | entry point | example | what the user sees (the test checks each quoted part) |",
             "|---|---|---|---|"]
    for case in CASES:
        sees = f"{case.outcome}: " + " … ".join(f"`{part}`" for part in case.expect)
        lines.append("| " + " | ".join(_cell(c) for c in (case.kind, case.entry, case.example, sees)) + " |")
    return "\n".join(lines)


def fixes_list() -> str:
    return "\n".join(f"* **{case.kind}** ({case.entry}, `{case.id}`): {case.fixed}" for case in CASES if case.fixed)


def figures_table() -> str:
    lines = ["| scenario | kinds | tried | caught | data lost | checked by |", "|---|---:|---:|---:|---:|---|"]
    total = {"kinds": set(), "tried": 0, "caught": 0, "lost": 0}
    for entry in ENTRIES:
        cases = [c for c in CASES if c.entry == entry]
        tests = ", ".join(f"`{Path(t).name}`" for t in dict.fromkeys(test_of(c) for c in cases))
        kinds = {c.kind for c in cases}
        lines.append(f"| bad input: {entry} | {len(kinds)} | {len(cases)} | {len(cases)} | 0 | {tests} |")
        total["kinds"] |= kinds
        total["tried"] += len(cases)
        total["caught"] += len(cases)
    for s in OTHER_SCENARIOS:
        tests = ", ".join(f"`{t}`" for t in s.tests)
        lines.append(f"| {_cell(s.name)} | 1 | {s.tried} | {s.caught} | {s.lost} | {tests} |")
        total["kinds"].add(s.name)
        total["tried"] += s.tried
        total["caught"] += s.caught
        total["lost"] += s.lost
    lines.append(f"| **total** | **{len(total['kinds'])}** | **{total['tried']}** | **{total['caught']}** | "
                 f"**{total['lost']}** | |")
    return "\n".join(lines)


def blocks() -> dict[str, str]:
    return {"catalogue": catalogue_table(), "fixes": fixes_list(), "figures": figures_table()}


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- generated:{name} -->\n)(.*?)\n?(<!-- /generated:{name} -->)", re.S)


def read_blocks(text: str) -> dict[str, str | None]:
    return {name: (m.group(2) if (m := _pattern(name).search(text)) else None) for name in blocks()}


def write(path: Path = DOC) -> None:
    text = path.read_text()
    for name, body in blocks().items():
        text, n = _pattern(name).subn(lambda m, body=body: m.group(1) + body + "\n" + m.group(3), text)
        if n != 1:
            raise SystemExit(f"{path}: expected one <!-- generated:{name} --> … <!-- /generated:{name} --> block")
    path.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
        print(f"rewrote the generated tables of {DOC}")
    else:
        for name, body in blocks().items():
            print(f"<!-- generated:{name} -->\n{body}\n<!-- /generated:{name} -->\n")
