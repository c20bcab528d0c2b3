"""Every Python snippet of the README's custom-loop section is a verbatim excerpt of a script
that the test suite runs (tests/test_custom_loops.py), so the snippets cannot rot."""

import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Drop GWA into your own Flax train loop"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def custom_loop_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    return python_blocks(readme[start:end if end >= 0 else None])


def find_excerpt(snippet: list[str], source: list[str]) -> int | None:
    """Start line of a contiguous run of ``source`` equal to ``snippet`` once dedented."""
    n = len(snippet)
    for i in range(len(source) - n + 1):
        window = textwrap.dedent("\n".join(source[i:i + n])).splitlines()
        if [ln.rstrip() for ln in window] == [ln.rstrip() for ln in snippet]:
            return i
    return None


def test_find_excerpt_detects_a_changed_line():
    source = ["def f():", "    a = 1", "    return a"]
    assert find_excerpt(["a = 1", "return a"], source) == 1
    assert find_excerpt(["a = 2", "return a"], source) is None


def test_custom_loop_snippets_are_excerpts_of_tested_scripts():
    blocks = custom_loop_blocks()
    assert len(blocks) >= 3  # linen step, NNX step, the epoch loop.
    sources = set()
    for block in blocks:
        first, *body = block.rstrip("\n").splitlines()
        m = re.fullmatch(r"# (scripts/\w+\.py)", first)
        assert m, f"snippet must start with '# scripts/<name>.py', got {first!r}"
        source = (ROOT / m.group(1)).read_text().splitlines()
        assert find_excerpt(body, source) is not None, (
            f"README snippet is not an excerpt of {m.group(1)}:\n" + "\n".join(body[:5]))
        sources.add(m.group(1))
    assert sources == {"scripts/custom_loop_digits.py", "scripts/custom_loop_nnx.py"}
