"""The ip6tables rules that queue a policy's packets to the userspace plane, as
text for ``ip6tables-restore --noflush``.

Rules of this module:
- Pure: policies in, the rule text and the commands' arguments out; the
  service runs them (:mod:`ipv6.ipsec._service`).
- The rules only choose what to queue; the engine decides (:mod:`._engine`).
  So a rule may queue more than its policy covers (ports without a protocol,
  a BYPASS policy above an APPLY one) and never less: each policy that is not
  BYPASS queues its selectors, on OUTPUT for OUTBOUND and BIDIRECT, on INPUT
  for INBOUND and BIDIRECT.
- Two chains of the toolkit's own in the mangle table, jumped to first from
  OUTPUT and INPUT. Loopback, multicast and the service's own packets (marked)
  return at once (the engine passes them anyway).
- The AH makes packets longer: TCP SYNs sent under an APPLY policy get an MSS
  that leaves room for it (TCPMSS, per interface MTU), so TCP never sends a
  segment the link cannot carry once protected. Other packets that no longer
  fit are split by the service itself (:mod:`._fragment`).
- A rule without a target that asks for conntrack's state makes the kernel
  reassemble fragments before they are queued (nf_defrag_ipv6), so the AH is
  computed and checked over whole packets, and the kernel fragments them
  again after.
- The queue is not "bypass": with no daemon listening, the kernel drops what
  the rules queue. A protected link fails closed.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._files import Policy

TABLE = "mangle"
CHAIN_OUT, CHAIN_IN = "IPSEC6-OUT", "IPSEC6-IN"
JUMPS = (("OUTPUT", CHAIN_OUT), ("INPUT", CHAIN_IN))
QUEUE = 4302  # the queue's number in this network namespace (RFC 4302 is AH)
PROTOCOL_NAMES = {6: "tcp", 17: "udp", 58: "ipv6-icmp"}
DEFRAG = "-m conntrack --ctstate INVALID"  # no target: only makes conntrack (and defrag) run
MARK = 0x4302  # the service's own packets (fragments it sends) carry it: never queued again


def ruleset(policies: list[Policy], names: Mapping[int, str], mtus: Mapping[str, int],
            overhead: int, queue: int = QUEUE) -> str:  # fmt: skip
    """The ip6tables-restore input that makes both chains queue what ``policies``
    may cover. ``names`` gives the interface names of the policies' indexes,
    ``mtus`` the MTU of every interface by name, ``overhead`` the longest AH."""
    lines = [f"*{TABLE}", f":{CHAIN_OUT} - [0:0]", f":{CHAIN_IN} - [0:0]"]
    for chain, device in ((CHAIN_OUT, "-o"), (CHAIN_IN, "-i")):
        lines += [
            f"-A {chain} {device} lo -j RETURN",
            f"-A {chain} -d ff00::/8 -j RETURN",
            f"-A {chain} -m mark --mark {MARK:#x} -j RETURN",
            f"-A {chain} {DEFRAG}",
        ]
    for policy in sorted(policies, key=lambda p: -p.index):
        if policy.action == "BYPASS":
            continue
        if policy.direction in ("OUTBOUND", "BIDIRECT"):
            if policy.action == "APPLY" and policy.protocol in (None, 6):
                lines += _clamps(policy, names, mtus, overhead)
            lines.append(f"-A {CHAIN_OUT} {_match(policy, True, names)} {_target(queue)}")
        if policy.direction in ("INBOUND", "BIDIRECT"):
            lines.append(f"-A {CHAIN_IN} {_match(policy, False, names)} {_target(queue)}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _clamps(policy: Policy, names: Mapping[int, str], mtus: Mapping[str, int],
            overhead: int) -> list[str]:  # fmt: skip
    """TCP's MSS lowered in the SYNs this host sends under an APPLY policy, per
    interface, so that a full segment with its AH still fits the link (the
    peer's SYN carries its own, lowered likewise when it runs the same policy)."""
    out = []
    interfaces = [names[policy.interface]] if policy.interface else sorted(mtus)
    for name in interfaces:
        mss = mtus[name] - 60 - overhead  # IPv6 and TCP headers, and the AH
        match = _match(policy, True, names, interface=name, protocol=6)
        out.append(
            f"-A {CHAIN_OUT} {match} --tcp-flags SYN,RST SYN -m tcpmss --mss {mss + 1}:65535 "
            f"-j TCPMSS --set-mss {mss}"
        )
    return out


def _target(queue: int) -> str:
    return f"-j NFQUEUE --queue-num {queue}"


def _match(policy: Policy, outbound: bool, names: Mapping[int, str], *,
           interface: str | None = None, protocol: int | None = None) -> str:  # fmt: skip
    """One policy's selectors as ip6tables matches, from this host's side."""
    remote, local = ("-d", "-s") if outbound else ("-s", "-d")
    remote_port, local_port = ("--dport", "--sport") if outbound else ("--sport", "--dport")
    words = [f"-m comment --comment ipsec6-policy-{policy.index}"]
    if policy.interface or interface:
        words.append(f"{'-o' if outbound else '-i'} {interface or names[policy.interface]}")
    if policy.remote is not None:
        words.append(f"{remote} {policy.remote}/128")
    if policy.local is not None:
        words.append(f"{local} {policy.local}/128")
    protocol = policy.protocol if protocol is None else protocol
    if protocol is not None:
        words.append(f"-p {PROTOCOL_NAMES.get(protocol, protocol)}")
        if protocol in (6, 17):
            if policy.remote_port is not None:
                words.append(f"{remote_port} {policy.remote_port}")
            if policy.local_port is not None:
                words.append(f"{local_port} {policy.local_port}")
    return " ".join(words)


def jump_check(hook: str, chain: str) -> list[str]:
    """ip6tables arguments: whether ``hook`` already jumps to ``chain`` (exit status)."""
    return ["-t", TABLE, "-C", hook, "-j", chain]


def jump_insert(hook: str, chain: str) -> list[str]:
    return ["-t", TABLE, "-I", hook, "1", "-j", chain]


def jump_delete(hook: str, chain: str) -> list[str]:
    return ["-t", TABLE, "-D", hook, "-j", chain]


def chain_removal(chain: str) -> list[list[str]]:
    """ip6tables arguments that empty and remove one of the toolkit's chains."""
    return [["-t", TABLE, "-F", chain], ["-t", TABLE, "-X", chain]]
