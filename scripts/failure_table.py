"""Write the table of default failure criteria into docs/failure.md (between its markers).

Run: `python scripts/failure_table.py`. tests/test_failure_defaults.py checks the docs match.
"""

from pathlib import Path

from metaflow_ode import anatomy

BEGIN, END = "<!-- failure-table:begin -->", "<!-- failure-table:end -->"


def markdown() -> str:
    table = anatomy.failure_table()
    lines = [
        "| organ | criterion | value | units | fluid | condition | source or assumption |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.organ} | `{row.criterion}` | {row.value:g} | {row.units} | {row.fluid} | "
            f"{row.condition} | {row.source} |"
        )
    return "\n".join(lines)


def main() -> None:
    path = Path(__file__).resolve().parents[1] / "docs" / "failure.md"
    text = path.read_text()
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    path.write_text(f"{head}{BEGIN}\n{markdown()}\n{END}{tail}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
