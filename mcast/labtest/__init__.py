"""Testing your own programs in labs: the pytest plugin's ``lab`` (a
network-namespace lab per test, taken down after it), its hosts (run, spawn,
sockets and addresses inside them), and the pieces tests need (a NAT64 +
DNS64 gateway, a 6in4 or 6to4 tunnel, a multicast stream sent and measured,
a multicast ping), with an assertion whose failure says what the network did.
docs/testing.md shows it at work.

Modules: ``_plugin`` (pytest), ``_testlab`` (the lab and its hosts),
``_asynclab`` (their Trio face), ``_pieces``, ``_support``.
"""

from __future__ import annotations

from .._lazy import loader

_LAZY = {
    **dict.fromkeys(("AsyncHost", "AsyncLab"), "_asynclab"),
    **dict.fromkeys(("Host", "Lab", "open_lab_for_test"), "_testlab"),
    **dict.fromkeys(("Nat64Gateway", "StreamResult", "Tunnel"), "_pieces"),
}
__all__ = [
    "AsyncHost",
    "AsyncLab",
    "Host",
    "Lab",
    "Nat64Gateway",
    "StreamResult",
    "Tunnel",
    "open_lab_for_test",
]
__getattr__ = loader(__name__, _LAZY)
