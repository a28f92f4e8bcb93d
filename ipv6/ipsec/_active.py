"""The active security policies and SAs of one network namespace: what
``ipsec6 a`` and ``ipsec6 i`` add to, ``ipsec6 d`` removes from, and the
planes carry out.

Rules of this module:
- Pure: an :class:`Active` is a value; adding or deleting makes a new one or
  raises :class:`ipv6.ipsec.IpsecFileError` (one line) and changes nothing.
- The active lists keep the files' rules: every index once, policies and SAs
  in decreasing order, every SA naming an active APPLY policy. Two more that
  the lookups need: no two INBOUND SAs share an SPI and address, and no two
  OUTBOUND SAs of one policy go to the same address.
- A policy is deleted only when no SA names it, so an APPLY policy is never
  left half-configured by mistake (with no SA it drops its traffic).
- Stored as JSON with the keys in hex: the state file is readable by root only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv6Address
from typing import Any

from ._files import Association, IpsecFileError, Policy


@dataclass(frozen=True)
class Active:
    policies: tuple[Policy, ...] = ()
    associations: tuple[Association, ...] = ()

    def add(self, policies: list[Policy], associations: list[Association]) -> Active:
        """These policies and SAs added (ipsec6 a)."""
        for what, verb, adding, active in (
            ("policy", "sp", policies, self.policies),
            ("SA", "sa", associations, self.associations),
        ):
            taken = {entry.index for entry in active}
            for entry in adding:
                if entry.index in taken:
                    raise IpsecFileError(
                        f"{what} {entry.index} is already active (ipsec6 {verb}): delete it "
                        f"first (ipsec6 d type={verb} {entry.index}) or number the new one "
                        "differently"
                    )
        merged = Active(
            tuple(sorted((*self.policies, *policies), key=lambda p: -p.index)),
            tuple(sorted((*self.associations, *associations), key=lambda a: -a.index)),
        )
        merged.check()
        return merged

    def only(self, index: int, policies: list[Policy], associations: list[Association]
             ) -> Active:  # fmt: skip
        """Policy ``index`` of the files and its SAs added (ipsec6 i)."""
        chosen = [p for p in policies if p.index == index]
        if not chosen:
            raise IpsecFileError(f"the .spd file has no policy {index}")
        return self.add(chosen, [a for a in associations if a.policy == index])

    def delete(self, kind: str, index: int) -> Active:
        """Policy (``sp``) or SA (``sa``) ``index`` removed (ipsec6 d)."""
        if kind == "sa":
            if index not in {a.index for a in self.associations}:
                raise IpsecFileError(f"there is no active SA {index} (ipsec6 sa)")
            return replace(self, associations=tuple(
                a for a in self.associations if a.index != index))  # fmt: skip
        if index not in {p.index for p in self.policies}:
            raise IpsecFileError(f"there is no active policy {index} (ipsec6 sp)")
        users = [a.index for a in self.associations if a.policy == index]
        if users:
            listed = ", ".join(map(str, users))
            raise IpsecFileError(
                f"SA {listed} belong{'s' if len(users) == 1 else ''} to policy {index}: "
                f"delete {'it' if len(users) == 1 else 'them'} first (ipsec6 d type=sa {users[0]})"
            )
        return replace(self, policies=tuple(p for p in self.policies if p.index != index))

    def check(self) -> None:
        """The rules above, for lists that came together from several files."""
        applying = {p.index for p in self.policies if p.action == "APPLY"}
        inbound: dict[tuple[int, IPv6Address], int] = {}
        outbound: dict[tuple[int, IPv6Address], int] = {}
        for a in self.associations:
            if a.policy not in applying:
                raise IpsecFileError(f"SA {a.index} names policy {a.policy}, not an active "
                                     "APPLY policy")  # fmt: skip
            if a.direction == "INBOUND":
                seen, key, what = inbound, (a.spi, a.destination), f"SPI {a.spi} to {a.destination}"
            else:
                seen, key = outbound, (a.policy, a.destination)
                what = f"policy {a.policy} to {a.destination}"
            if key in seen:
                raise IpsecFileError(
                    f"SAs {seen[key]} and {a.index} are both {a.direction} for {what}: "
                    "a packet could not tell them apart"
                )
            seen[key] = a.index

    @property
    def empty(self) -> bool:
        return not self.policies and not self.associations

    def to_json(self) -> dict[str, Any]:
        return {
            "policies": [_policy_json(p) for p in self.policies],
            "associations": [_association_json(a) for a in self.associations],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Active:
        return cls(
            tuple(_policy_from(p) for p in data.get("policies", [])),
            tuple(_association_from(a) for a in data.get("associations", [])),
        )


def _text(value: object) -> object:
    return None if value is None else str(value)


def _policy_json(p: Policy) -> dict[str, Any]:
    return {
        "index": p.index, "remote": _text(p.remote), "local": _text(p.local),
        "remote_port": p.remote_port, "protocol": p.protocol, "local_port": p.local_port,
        "ipsec": p.ipsec, "mode": p.mode, "direction": p.direction, "action": p.action,
        "interface": p.interface,
    }  # fmt: skip


def _policy_from(d: dict[str, Any]) -> Policy:
    def address(v: str | None) -> IPv6Address | None:
        return None if v is None else IPv6Address(v)

    return Policy(
        d["index"], address(d["remote"]), address(d["local"]), d["remote_port"], d["protocol"],
        d["local_port"], d["ipsec"], d["mode"], d["direction"], d["action"], d["interface"],
    )  # fmt: skip


def _association_json(a: Association) -> dict[str, Any]:
    return {
        "index": a.index, "spi": a.spi, "destination": str(a.destination),
        "algorithm": a.algorithm, "key": a.key.hex(), "direction": a.direction,
        "policy": a.policy,
    }  # fmt: skip


def _association_from(d: dict[str, Any]) -> Association:
    return Association(
        d["index"], d["spi"], IPv6Address(d["destination"]), d["algorithm"],
        bytes.fromhex(d["key"]), d["direction"], d["policy"],
    )  # fmt: skip
