"""What the ``ipsec6`` verbs do: write templates, add files' policies and SAs
to the active lists as one transaction, delete entries, and show them with
what the plane counted.

The plane is the kernel's (XFRM) where the kernel has AH (probed once), else
the userspace service; ``--plane`` chooses, and the namespace keeps its
choice while anything is active. A change is in force when this returns: the
kernel took it, or the service says it loaded it. When either refuses, the
previous active lists are put back and the error says why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._errors import BadInput, Ipv6Error
from .._statefile import locked
from .._supervise import Service
from . import _state
from ._active import Active
from ._files import SAD_TEMPLATE, SPD_TEMPLATE, IpsecFileError, read_sad, read_spd

SERVICE = "ipv6.ipsec._service"
WAIT = 5.0
PLANES = ("auto", "kernel", "userspace")


class IpsecError(Ipv6Error):
    """A change the plane did not take; the previous active lists are back."""


PLANE = Service("the ipsec6 service", SERVICE, "ipsec6", timeout=WAIT, error=IpsecError)


def create(base: str) -> tuple[Path, Path]:
    """ipsec6 c: BASE.spd and BASE.sad, the seeds' templates (never over a file)."""
    spd, sad = Path(base + ".spd"), Path(base + ".sad")
    written: list[Path] = []
    try:
        for path in (spd, sad):
            if path.exists():
                raise BadInput(
                    f"{path} exists: edit it, or remove it to start again from a template"
                )
        for path, text in ((spd, SPD_TEMPLATE), (sad, SAD_TEMPLATE)):
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise BadInput(f"cannot write {exc.filename}: {exc.strerror}") from None
    return spd, sad


class KeyFiles(Mapping[str, str]):
    """The key files a .sad names, read from its directory when asked for."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __getitem__(self, name: str) -> str:
        try:
            return (self.directory / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise KeyError(name) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (self.directory / name).is_file()

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def read_files(base: str, active: Active) -> tuple[list[Any], list[Any]]:
    """BASE.spd and BASE.sad, checked whole (an SA may name an active policy)."""
    texts = []
    for suffix in (".spd", ".sad"):
        path = Path(base + suffix)
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IpsecFileError(
                f"there is no {path} (ipsec6 c {base} writes templates to start from)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise IpsecFileError(f"cannot read {path}: {exc}") from None
    spd, sad = Path(base + ".spd"), Path(base + ".sad")
    policies = read_spd(texts[0], spd.name)
    known = [*active.policies, *(p for p in policies if p.index not in
                                 {a.index for a in active.policies})]  # fmt: skip
    associations = read_sad(texts[1], sad.name, known, KeyFiles(sad.parent))
    return policies, associations


def add(base: str, *, only: int | None = None, plane: str = "auto") -> tuple[Active, str]:
    """ipsec6 a (or i with ``only``): the new active lists, and the plane."""
    with locked(_state.state_path()):
        data = _state.load()
        active = Active.from_json(data)
        policies, associations = read_files(base, active)
        new = active.add(policies, associations) if only is None else active.only(
            only, policies, associations)  # fmt: skip
        _check_interfaces(new)
        return new, _commit(data, new, plane)


def delete(kind: str, index: int) -> Active:
    """ipsec6 d type=sp|sa N."""
    with locked(_state.state_path()):
        data = _state.load()
        new = Active.from_json(data).delete(kind, index)
        _commit(data, new, data.get("plane") or "auto")
        return new


def _check_interfaces(active: Active) -> None:
    import socket

    for policy in active.policies:
        if policy.interface:
            try:
                socket.if_indextoname(policy.interface)
            except OSError:
                raise BadInput(
                    f"policy {policy.index}: there is no interface {policy.interface} "
                    "(InterfaceIndex is an interface's index; 0 is every interface)"
                ) from None


def choose_plane(wanted: str) -> str:
    from .._features import KernelLacks
    from .._probe import require
    from ._xfrm import kernel_has_ah

    if wanted == "kernel" and not kernel_has_ah():
        raise KernelLacks("xfrm_ah", "ipsec6 on the kernel plane",
                          "use --plane userspace or --plane auto")  # fmt: skip
    chosen = ("kernel" if kernel_has_ah() else "userspace") if wanted == "auto" else wanted
    if chosen == "userspace":
        hint = "the kernel plane (AH in XFRM) needs no queue" if wanted == "userspace" else ""
        require("nfqueue", "ipsec6's userspace plane", hint)
    return chosen


def _commit(data: dict[str, Any], new: Active, wanted: str) -> str:
    """Make ``new`` the active lists on the namespace's plane, or put the old back."""
    old = Active.from_json(data)
    plane: str = data["plane"] if not old.empty and data.get("plane") else choose_plane(wanted)
    if wanted not in ("auto", plane):
        raise BadInput(f"this namespace's IPsec runs on the {plane} plane while anything is "
                       f"active: delete it all first to change")  # fmt: skip
    previous = dict(data)
    data.update(new.to_json(), generation=data["generation"] + 1, plane=None if new.empty
                else plane)  # fmt: skip
    if plane == "kernel":
        from ._xfrm import sync

        sync(old, new)  # a transaction of its own: on failure the kernel has the old lists
        _state.save(data)
        return plane
    _state.save(data)
    try:
        _userspace(data, new)
    except IpsecError:
        previous.update(generation=data["generation"] + 1, service=data.get("service"))
        _state.save(previous)
        with contextlib.suppress(Ipv6Error):  # the first error is the one to tell
            _userspace(previous, old)
        raise
    return plane


def _userspace(data: dict[str, Any], new: Active) -> None:
    """The service runs while a policy needs the queue, and has loaded ``data``."""
    pid: int = data.get("service") or 0
    if not any(p.action != "BYPASS" for p in new.policies):
        stop_service(data)
        return
    started = PLANE.start_or_reload(pid)
    if started is not None:
        data["service"] = pid = started.pid
        _state.save(data)
    generation = data["generation"]

    def loaded(status: dict[str, Any]) -> bool | str:
        if status.get("pid") != pid or status.get("generation") != generation:
            return False
        return f"the ipsec6 service refused it: {status['error']}" if status.get("error") else True

    PLANE.wait(loaded, pid, started)


def stop_service(data: dict[str, Any]) -> None:
    """SIGTERM to the service; it removes its rules as it goes. Rules that a
    service killed outright (SIGKILL) left behind are removed here."""
    from ._iptables import RulesError, remove_rules

    PLANE.stop(data.get("service") or 0)
    with contextlib.suppress(RulesError):  # no ip6tables: no rule of ours either
        remove_rules()
    data["service"] = None
    _state.save(data)


def status() -> dict[str, Any]:
    """The active lists with what the plane counted (fresh from the service)."""
    data = _state.load()
    active = Active.from_json(data)
    pid: int = data.get("service") or 0
    out: dict[str, Any] = {"plane": data.get("plane"), "active": active, "service": None}
    if data.get("plane") == "kernel":
        from ._xfrm import counters

        out["counted"] = counters()
        return out
    if PLANE.alive(pid):
        out["service"] = {"pid": pid, "running": True}
        out["counted"] = PLANE.ask_status(pid)
    elif pid:
        out["service"] = {"pid": pid, "running": False, "why": PLANE.why_stopped(pid)}
    return out
