"""What a lab made, kept in a small JSON file per lab under /run/ipv6-lab.

The record is written before the first namespace is made and again before
each next one, so even a lab whose ``up`` was killed halfway can be taken
down: ``down`` removes every namespace the record names. /run is emptied at
boot, as are the namespaces themselves, so records never outlive their labs.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._errors import LabError
from .._statefile import write_json

STATE_DIR_ENV = "IPV6_LAB_STATE_DIR"
DEFAULT_STATE_DIR = "/run/ipv6-lab"


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR))


@dataclass
class LinkRecord:
    name: str
    kind: str
    endpoints: list[tuple[str, str]]  # (host, ifname)


@dataclass
class LabRecord:
    name: str
    tag: str
    source: str
    created: float
    status: str = "building"  # building, up
    hosts: dict[str, str] = field(default_factory=dict)  # host -> namespace
    bridges: dict[str, str] = field(default_factory=dict)  # link -> namespace
    links: list[LinkRecord] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)  # made (or being made), in order
    logs: list[str] = field(default_factory=list)  # its programs' output, in the state dir

    def namespace_of(self, host: str) -> str:
        try:
            return self.hosts[host]
        except KeyError:
            known = ", ".join(sorted(self.hosts))
            raise LabError(f"lab {self.name!r} has no host {host!r} (hosts: {known})") from None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LabRecord:
        raw_links = data.pop("links", [])
        record = cls(**data)  # type: ignore[arg-type]
        record.links = [
            LinkRecord(d["name"], d["kind"], [(e[0], e[1]) for e in d["endpoints"]])
            for d in raw_links  # type: ignore[attr-defined]
        ]
        return record


def _path(name: str) -> Path:
    return state_dir() / f"{name}.json"


def reserve(record: LabRecord) -> None:
    """Claim the lab's name; a lab of that name already up is an error."""
    directory = state_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(_path(record.name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise LabError(
            f"a lab named {record.name!r} is already up: take it down with "
            f"'ipv6 lab down {record.name}', or give this one another name with --name"
        ) from None
    except OSError as exc:
        raise LabError(
            f"cannot record lab {record.name!r} in {directory}: {exc.strerror}; nothing was made"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record.to_json(), f)


def save(record: LabRecord) -> None:
    """Replace the record atomically (a failed write keeps the previous one)."""
    write_json(_path(record.name), record.to_json(), f"the record of lab {record.name!r}")


def load(name: str) -> LabRecord | None:
    """The record of the lab ``name``; None when no lab of that name is up (a name no
    lab can have, too long or with a path's characters, included)."""
    from ._checks import NAME
    from ._config import LAB_NAME_MAX

    if len(name) > LAB_NAME_MAX or not NAME.match(name):
        return None
    try:
        data = json.loads(_path(name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"the record of lab {name!r} ({_path(name)}) is unreadable: {exc}") from None
    return LabRecord.from_json(data)


def forget(name: str, logs: list[str] | None = None) -> None:
    """Remove the lab's record, and the logs its programs wrote."""
    for log in logs or []:
        with contextlib.suppress(FileNotFoundError):
            (state_dir() / log).unlink()
    with contextlib.suppress(FileNotFoundError):
        _path(name).unlink()


def all_records() -> list[LabRecord]:
    try:
        names = sorted(p.stem for p in state_dir().glob("*.json"))
    except OSError:
        return []
    records = []
    for name in names:
        record = load(name)
        if record is not None:
            records.append(record)
    return records


def now() -> float:
    return time.time()
