"""Translation between IPv4 and IPv6: stateless SIIT (RFC 7915) with RFC 6052
prefixes and explicit address pairs, and stateful NAT64 (RFC 6146), both as
pure cores (``_siit``, ``_nat64``) run by the userspace plane's service.

Everything here loads on first use, so importing a pure module of the
package loads nothing else."""

from __future__ import annotations
