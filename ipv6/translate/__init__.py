"""Translation between IPv4 and IPv6: stateless SIIT (RFC 7915) with RFC 6052
prefixes and explicit address pairs, and stateful NAT64 (RFC 6146), both as
pure cores (``_siit``, ``_mapping``, ``_nat64``) run by the data-plane service, whose
remembered flows an eBPF program translates in the kernel on the eBPF plane (``_ebpf``);
DNS64 (RFC 6147) as a synthesizer and a Trio server (:func:`serve_dns64`).

Everything here loads on first use, so importing a pure module of the
package loads nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clat import ClatAdded
    from ._clat import add as add_clat
    from ._clat import delete as delete_clat
    from ._control import Added, TranslatorError, TranslatorStatus
    from ._control import add as add_translator
    from ._control import delete as delete_translator
    from ._control import status as translator_status
    from ._dns64 import Dns64
    from ._dns64server import Dns64Config, Dns64Counters, Dns64Error
    from ._dns64server import Server as Dns64Server
    from ._dns64server import serve as serve_dns64
    from ._mapping import Prefix64, StatelessMapper
    from ._nat64 import Nat64Mapper, Timeouts
    from ._siit import Out, Translator
    from ._spec import TranslatorSpec

_LAZY = {
    "Added": ("_control", "Added"),
    "ClatAdded": ("_clat", "ClatAdded"),
    "add_clat": ("_clat", "add"),
    "delete_clat": ("_clat", "delete"),
    "Dns64": ("_dns64", "Dns64"),
    "Dns64Config": ("_dns64server", "Dns64Config"),
    "Dns64Counters": ("_dns64server", "Dns64Counters"),
    "Dns64Error": ("_dns64server", "Dns64Error"),
    "Dns64Server": ("_dns64server", "Server"),
    "serve_dns64": ("_dns64server", "serve"),
    "Nat64Mapper": ("_nat64", "Nat64Mapper"),
    "Out": ("_siit", "Out"),
    "Prefix64": ("_mapping", "Prefix64"),
    "StatelessMapper": ("_mapping", "StatelessMapper"),
    "Timeouts": ("_nat64", "Timeouts"),
    "Translator": ("_siit", "Translator"),
    "TranslatorError": ("_control", "TranslatorError"),
    "TranslatorSpec": ("_spec", "TranslatorSpec"),
    "TranslatorStatus": ("_control", "TranslatorStatus"),
    "add_translator": ("_control", "add"),
    "delete_translator": ("_control", "delete"),
    "translator_status": ("_control", "status"),
}

__all__ = [
    "Added",
    "ClatAdded",
    "Dns64",
    "Dns64Config",
    "Dns64Counters",
    "Dns64Error",
    "Dns64Server",
    "Nat64Mapper",
    "Out",
    "Prefix64",
    "StatelessMapper",
    "Timeouts",
    "Translator",
    "TranslatorError",
    "TranslatorSpec",
    "TranslatorStatus",
    "add_clat",
    "add_translator",
    "delete_clat",
    "delete_translator",
    "serve_dns64",
    "translator_status",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
