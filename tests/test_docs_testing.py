"""docs/testing.md's examples (and the README's), run as a user runs them: each
```python test_NAME.py block written into a fresh directory and run by pytest in
a subprocess, the plugin found through its entry point; every test in it must
pass, and leave no lab (nor its /etc/netns entries)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.needs_root

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python (test_\w+\.py)\n(.*?)^```$", re.M | re.S)
EXAMPLES = {
    name: text
    for page in (ROOT / "docs" / "testing.md", ROOT / "README.md")
    for name, text in BLOCK.findall(page.read_text(encoding="utf-8"))
}


def test_the_page_has_its_examples() -> None:
    assert set(EXAMPLES) == {"test_nat64_fetch.py", "test_happy_eyeballs.py",
                             "test_multicast_loss.py", "test_quick_start.py"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_example_of_the_page_passes(
    pytester: pytest.Pytester, nothing_left: str, name: str
) -> None:
    pytester.makepyfile(**{name[:-3]: EXAMPLES[name]})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly",
                                           "--lab-required", "-v")  # fmt: skip
    tests = len(re.findall(r"^(?:async )?def test_", EXAMPLES[name], re.M))
    result.assert_outcomes(passed=tests)
