"""The last stage of a netsh transaction: the persistent commands
(``store=persistent``) that ``restore`` runs again after a reboot.

Each kept command is stored with the object it is about (its noun and the
interface, address or prefix it names), worked out once when it is kept, so
that a later ``delete ... store=persistent`` drops the commands about the
same object without parsing them again."""

from __future__ import annotations

from typing import Any

from ._grammar import Command, NetshSyntaxError, parse_command, split

IDENTIFIERS = ("interface", "address", "prefix")


def object_of(command: Command) -> dict[str, str]:
    """What a command is about: its noun and identifying values (an address is
    the same whatever its prefix length)."""
    same = {
        k: str(getattr(command.values[k], "ip", command.values[k]))
        for k in IDENTIFIERS
        if k in command.values
    }
    return {"noun": command.noun, **same}


def entries(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The kept commands, each ``{"command": text, "object": ...}``. A state file
    written before objects were stored holds bare texts: each is read once here."""
    kept = state.setdefault("persistent", [])
    for i, entry in enumerate(kept):
        if isinstance(entry, str):
            try:
                about = object_of(parse_command(split(entry)))
            except NetshSyntaxError:
                about = {}
            kept[i] = {"command": entry, "object": about}
    return list(kept)


def kept_commands(state: dict[str, Any]) -> list[str]:
    return [entry["command"] for entry in entries(state)]


def keep(state: dict[str, Any], command: Command) -> None:
    """Record a persistent command, or forget the kept ones a persistent delete undoes."""
    if not command.persistent:
        return
    kept = entries(state)
    if command.verb == "delete":
        about = object_of(command)
        # A delete names less than an add did (no prefix length, say): it drops every
        # kept command about an object that matches all the delete names.
        state["persistent"] = [e for e in kept if not _covers(about, e["object"])]
        return
    kept.append({"command": command.text, "object": object_of(command)})  # context included
    state["persistent"] = kept


def _covers(delete: dict[str, str], kept: dict[str, str]) -> bool:
    return all(kept.get(k) == v for k, v in delete.items())
