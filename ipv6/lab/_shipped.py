"""Lab files: reading one, and the labs shipped with the toolkit.

The shipped labs live once, in the repository's configs/lab/. A wheel carries
them as package data (ipv6/lab/shipped/, see pyproject.toml); an editable
install or a checkout finds them in configs/lab/ beside the package. Either
way :func:`shipped_labs` returns real paths, which the commands print.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .._errors import LabConfigError
from .._result import Result
from ._config import LabConfig
from ._configread import parse_config


def load_config(path: str | Path, *, name: str | None = None) -> LabConfig:
    """Read and check a lab file; ``name`` overrides the name the file gives."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabConfigError(source, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabConfigError(source, "", f"cannot be read: {exc}") from None
    default_name = Path(path).stem
    return parse_config(text, source=source, default_name=default_name, name=name)


def shipped_directory() -> Path:
    """Where the shipped labs are: the wheel's package data, or the checkout's configs/lab."""
    packaged = Path(str(resources.files("ipv6.lab").joinpath("shipped")))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "configs" / "lab"


def builtin_labs() -> dict[str, str]:
    """The labs shipped with the toolkit: name -> path."""
    return {p.stem: str(p) for p in sorted(shipped_directory().glob("*.toml"))}


def builtin_lab(name: str) -> str | None:
    """The path of a shipped lab, by its name (``lan``) or file name (``lan.toml``)."""
    return builtin_labs().get(name.removesuffix(".toml"))


@dataclass
class ShippedLab(Result):
    """A lab shipped with the toolkit, as ``ipv6 lab examples`` lists it."""

    name: str
    file: str
    description: str
    hosts: list[str]
    links: list[str]


def shipped_labs() -> list[ShippedLab]:
    """Every shipped lab, read and checked."""
    found = []
    for name, path in builtin_labs().items():
        config = load_config(path)
        found.append(ShippedLab(name, path, config.description, [h.name for h in config.hosts],
                                [link.name for link in config.links]))  # fmt: skip
    return found
