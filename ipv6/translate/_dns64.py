"""DNS64 (RFC 6147) as decisions on dnspython messages, and the answers of a
lab zone. Pure: asking the zone or an upstream resolver is the driver's
(``_dns64server``) part.

For an AAAA query the resolver first asks for AAAA. Real AAAA records that
are not excluded (::ffff:0:0/96 always, RFC 6147 5.1.4) are the answer.
A name error is the answer too. An empty answer, or one with only excluded
records, needs the A records: each one outside the excluded IPv4 ranges
becomes an AAAA record in the NAT64 prefix (RFC 6052). The CNAME chain is
kept, and the TTL is the smaller of the A record's and the negative TTL of
the empty AAAA answer (RFC 6147 5.1.7). A query with CD set gets no
synthesis (5.5). PTR queries under the prefix are answered from the IPv4
reverse tree (5.3.1). ``ipv4only.arpa`` has its well-known A records, so that
hosts find the prefix (RFC 7050, RFC 8880).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.reversename
import dns.rrset
import dns.zone

from .._derive import MAPPED
from ._mapping import Prefix64

IPV4ONLY = dns.name.from_text("ipv4only.arpa.")
IPV4ONLY_ADDRESSES = ("192.0.0.170", "192.0.0.171")  # RFC 7050 2.2
IPV4ONLY_TTL = 3600
# RFC 6147 5.1.4 and 5.1.6: A records that are not synthesised by default.
DEFAULT_EXCLUDE4 = tuple(
    IPv4Network(n) for n in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "255.255.255.255/32")
)
DEFAULT_EXCLUDE6 = (MAPPED,)
CNAME_LIMIT = 8

AAAA, A, PTR, CNAME, SOA = (
    dns.rdatatype.AAAA, dns.rdatatype.A, dns.rdatatype.PTR, dns.rdatatype.CNAME,
    dns.rdatatype.SOA,
)  # fmt: skip


class Dns64:
    """One DNS64's rules: the prefix and what is never synthesised or returned."""

    def __init__(
        self,
        prefix: Prefix64,
        *,
        exclude6: tuple[IPv6Network, ...] = DEFAULT_EXCLUDE6,
        exclude4: tuple[IPv4Network, ...] = DEFAULT_EXCLUDE4,
    ) -> None:
        self.prefix, self.exclude6, self.exclude4 = prefix, exclude6, exclude4

    # -- the AAAA path --

    @staticmethod
    def wants_synthesis(query: dns.message.Message) -> bool:
        """Whether this query may get synthesised answers: AAAA, class IN, CD clear."""
        if not query.question or query.flags & dns.flags.CD:
            return False
        question = query.question[0]
        return bool(question.rdtype == AAAA and question.rdclass == dns.rdataclass.IN)

    def aaaa_is_enough(self, response: dns.message.Message) -> bool:
        """Whether the AAAA response is the answer: records that are not excluded,
        or a name error (RFC 6147 5.1.2: other errors count as empty)."""
        if response.rcode() == dns.rcode.NXDOMAIN:
            return True
        if response.rcode() != dns.rcode.NOERROR:
            return False
        return any(
            not self._excluded6(IPv6Address(rd.address))
            for rrset in response.answer
            if rrset.rdtype == AAAA
            for rd in rrset
        )

    def synthesize(
        self,
        query: dns.message.Message,
        aaaa: dns.message.Message | None,
        a: dns.message.Message,
    ) -> dns.message.Message:
        """The answer to AAAA ``query`` made from ``a``, the A response for the same
        name; the empty ``aaaa`` response when there is nothing to make."""
        records = [rrset for rrset in a.answer if rrset.rdtype == A]
        usable = [
            (rrset, [rd for rd in rrset if not self._excluded4(IPv4Address(rd.address))])
            for rrset in records
        ]
        if a.rcode() != dns.rcode.NOERROR or not any(kept for _, kept in usable):
            return self._plain(query, aaaa if aaaa is not None else a)
        response = dns.message.make_response(query)
        response.flags |= a.flags & (dns.flags.AA | dns.flags.RA)
        response.set_rcode(dns.rcode.NOERROR)
        negative = _negative_ttl(aaaa) if aaaa is not None else None
        for rrset in a.answer:
            if rrset.rdtype == CNAME:
                response.answer.append(rrset)
        for rrset, kept in usable:
            if not kept:
                continue
            ttl = rrset.ttl if negative is None else min(rrset.ttl, negative)
            synthesized = dns.rrset.RRset(rrset.name, dns.rdataclass.IN, AAAA)
            for rd in kept:
                v6 = self.prefix.embed(int(IPv4Address(rd.address)))
                if v6 is not None:
                    synthesized.add(_aaaa(v6), ttl)
            if synthesized:
                response.answer.append(synthesized)
        if not any(r.rdtype == AAAA for r in response.answer):
            return self._plain(query, aaaa if aaaa is not None else a)
        return response

    def filtered(
        self, query: dns.message.Message, response: dns.message.Message
    ) -> dns.message.Message:
        """``response`` without its excluded AAAA records (RFC 6147 5.1.4)."""
        out = _copy(query, response)
        answer = []
        for rrset in out.answer:
            kept = rrset
            if rrset.rdtype == AAAA:
                kept = dns.rrset.RRset(rrset.name, rrset.rdclass, AAAA)
                for rd in rrset:
                    if not self._excluded6(IPv6Address(rd.address)):
                        kept.add(rd, rrset.ttl)
            if kept:
                answer.append(kept)
        out.answer = answer
        return out

    # -- PTR under the prefix (RFC 6147 5.3.1) --

    def ptr_target(self, query: dns.message.Message) -> dns.name.Name | None:
        """The in-addr.arpa name a PTR query for an address in the prefix stands for."""
        if not query.question or query.question[0].rdtype != PTR:
            return None
        name = query.question[0].name
        try:
            address = dns.reversename.to_address(name)
        except Exception:  # not a reverse name: dnspython raises several kinds
            return None
        try:
            v6 = IPv6Address(address)
        except ValueError:
            return None
        v4 = self.prefix.extract(int(v6))
        if v4 is None:
            return None
        return dns.reversename.from_address(str(IPv4Address(v4)))

    @staticmethod
    def ptr_answer(query: dns.message.Message, v4: dns.message.Message) -> dns.message.Message:
        """The IPv4 reverse answer, under the IPv6 name that was asked."""
        response = dns.message.make_response(query)
        response.set_rcode(v4.rcode())
        name = query.question[0].name
        for rrset in v4.answer:
            if rrset.rdtype == PTR:
                copy = dns.rrset.RRset(name, dns.rdataclass.IN, PTR)
                for rd in rrset:
                    copy.add(rd, rrset.ttl)
                response.answer.append(copy)
        return response

    # -- helpers --

    def _excluded6(self, address: IPv6Address) -> bool:
        return any(address in net for net in self.exclude6)

    def _excluded4(self, address: IPv4Address) -> bool:
        return any(address in net for net in self.exclude4)

    @staticmethod
    def _plain(query: dns.message.Message, response: dns.message.Message) -> dns.message.Message:
        return _copy(query, response)


def ipv4only_answer(query: dns.message.Message) -> dns.message.Message | None:
    """The local answer for ipv4only.arpa's A records (RFC 8880 7.2), or None."""
    if not query.question or query.question[0].name != IPV4ONLY:
        return None
    question = query.question[0]
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    if question.rdtype == A:
        rrset = dns.rrset.from_text_list(
            IPV4ONLY, IPV4ONLY_TTL, "IN", "A", list(IPV4ONLY_ADDRESSES)
        )
        response.answer.append(rrset)
    return response


def zone_answer(
    zone: dns.zone.Zone,
    query: dns.message.Message,
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
) -> dns.message.Message | None:
    """The authoritative answer of ``zone`` for (``qname``, ``rdtype``), CNAMEs
    followed inside it; None when the name is not in the zone."""
    origin = zone.origin
    assert origin is not None
    if not qname.is_subdomain(origin):
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    name = qname
    for _ in range(CNAME_LIMIT):
        node = zone.get_node(name)
        if node is None:
            if name == qname:
                response.set_rcode(dns.rcode.NXDOMAIN)
            _add_soa(zone, response)
            return response
        found = node.get_rdataset(dns.rdataclass.IN, rdtype)
        if found is not None:
            response.answer.append(_rrset(name, rdtype, found))
            return response
        alias = node.get_rdataset(dns.rdataclass.IN, CNAME)
        if alias is None or rdtype == CNAME:
            _add_soa(zone, response)
            return response
        response.answer.append(_rrset(name, CNAME, alias))
        name = alias[0].target
        if not name.is_subdomain(origin):
            return response  # the rest is another zone's
    return response


def _add_soa(zone: dns.zone.Zone, response: dns.message.Message) -> None:
    assert zone.origin is not None
    soa = zone.get_rdataset(zone.origin, SOA)
    if soa is not None:
        response.authority.append(_rrset(zone.origin, SOA, soa))


def _negative_ttl(response: dns.message.Message) -> int | None:
    """The negative-caching TTL of an empty answer: min(SOA TTL, SOA minimum)."""
    for rrset in response.authority:
        if rrset.rdtype == SOA and len(rrset):
            return int(min(rrset.ttl, rrset[0].minimum))
    return None


def _aaaa(v6: int) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, AAAA, str(IPv6Address(v6)))


def _copy(query: dns.message.Message, response: dns.message.Message) -> dns.message.Message:
    """``response`` as an answer to ``query`` (its id and question, its flags)."""
    out = dns.message.make_response(query)
    out.flags |= response.flags & (dns.flags.AA | dns.flags.RA | dns.flags.TC)
    out.set_rcode(response.rcode())
    out.answer = [_clone(r) for r in response.answer]
    out.authority = [_clone(r) for r in response.authority]
    out.additional = [_clone(r) for r in response.additional if r.rdtype != dns.rdatatype.OPT]
    return out


def _clone(rrset: dns.rrset.RRset) -> dns.rrset.RRset:
    return _rrset(rrset.name, rrset.rdtype, rrset, rrset.rdclass)


def _rrset(
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    rdataset: dns.rdataset.Rdataset,
    rdclass: dns.rdataclass.RdataClass = dns.rdataclass.IN,
) -> dns.rrset.RRset:
    out = dns.rrset.RRset(name, rdclass, rdtype)
    for rd in rdataset:
        out.add(rd, rdataset.ttl)
    return out
