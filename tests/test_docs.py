"""Every Python example in docs/*.md runs as written."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCKS = [(page.name, i, block) for page in sorted(DOCS.glob("*.md"))
          for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text("utf-8"),
                                               re.S))]


@pytest.mark.parametrize(("page", "index", "code"), BLOCKS, ids=[f"{p}-{i}" for p, i, _ in BLOCKS])
def test_doc_example_runs(page, index, code, capsys):
    exec(compile(code, f"docs/{page}#{index}", "exec"), {})


def test_kernels_example_prints_a_small_error(capsys):
    (code,) = [c for p, _, c in BLOCKS if p == "kernels.md"]
    exec(compile(code, "docs/kernels.md", "exec"), {})
    err = float(capsys.readouterr().out.split()[-1])
    assert 0 < err < 0.25  # relative NTK error at width 1024: O(m^(-1/2)) with a constant ~ 3
