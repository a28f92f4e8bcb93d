"""docs/api.md is what the public faces say now, and every public name says what it is."""

from tests import api_reference


def test_the_api_page_is_up_to_date() -> None:
    written = api_reference.DOC.read_text(encoding="utf-8")
    assert written == api_reference.page(), (
        "docs/api.md is stale: run `python -m tests.api_reference --write`"
    )


def test_every_public_name_has_a_docstring() -> None:
    assert api_reference.undocumented() == []


def test_every_public_name_resolves() -> None:
    import importlib

    for module_name, _ in api_reference.FACES:
        module = importlib.import_module(module_name)
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == [], (module_name, missing)
