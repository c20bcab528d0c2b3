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


def fence_problems(markdown: str) -> list[str]:
    """Lines where a code fence is malformed: an opening fence left open at the end, or a
    closing fence with text after it (which Markdown reads as a new opening fence)."""
    problems, open_at = [], None
    for number, line in enumerate(markdown.splitlines(), 1):
        if not line.lstrip().startswith("```"):
            continue
        info = line.lstrip()[3:].strip()
        if open_at is None:
            open_at = number
        elif info:
            problems.append(f"line {number}: closing fence with text after it: {line!r}")
        else:
            open_at = None
    if open_at is not None:
        problems.append(f"line {open_at}: code fence never closed")
    return problems


def test_fence_problems_finds_the_two_mistakes():
    assert fence_problems("```bash\nls\n```\n") == []
    assert fence_problems("```python\nx = 1\n``` A\nmore\n")[0].startswith("line 3:")
    assert fence_problems("text\n```bash\nls\n") == ["line 2: code fence never closed"]


def test_every_markdown_file_has_well_formed_code_fences():
    files = [ROOT / "README.md", *sorted(ROOT.glob("*/**/README.md")),
             *sorted((ROOT / "configs").glob("*.md"))]
    problems = [f"{f.relative_to(ROOT)} {p}" for f in files if ".venv" not in f.parts
                for p in fence_problems(f.read_text())]
    assert problems == []


def test_every_committed_result_says_which_protocol_produced_it():
    """Each results/*/README.md names the run format (gwa_jax.run.run_format) of its numbers."""
    from gwa_jax.run.run_format import FORMAT_VERSION

    root = Path(__file__).resolve().parents[1] / "results"
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    assert folders
    for folder in folders:
        readme = folder / "README.md"
        assert readme.is_file(), f"{folder} has no README.md"
        lines = [ln for ln in readme.read_text().splitlines() if ln.startswith("**Protocol:**")]
        assert len(lines) == 1, f"{readme}: one '**Protocol:**' line expected"
        formats = {int(m) for m in re.findall(r"format (\d+)", lines[0])}
        assert formats and formats <= set(range(1, FORMAT_VERSION + 1)), readme


def test_every_protocol_row_is_same_or_a_stated_own_choice():
    """configs/PROTOCOL.md: six cells a row, the status 'same...' or 'own...' with a reason."""
    text = (Path(__file__).resolve().parents[1] / "configs" / "PROTOCOL.md").read_text()
    rows = [line for line in text.splitlines()
            if line.startswith("| ") and not line.startswith(("| Detail", "|---"))]
    assert len(rows) >= 60
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split(" | ")]
        assert len(cells) == 6, row[:80]
        status = cells[-1]
        assert status.startswith(("same", "own")), row[:80]
        if status.startswith("own"):
            assert len(status) > len("own: ") + 10, row[:80]  # The reason is given.
