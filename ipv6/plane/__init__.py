"""The userspace data plane: one service per network namespace
(``python -m ipv6.plane._service``) that runs the tunnels the kernel has no
driver for (6to4, 6in4, 6rd on TUN devices and a raw protocol-41 socket) and
the translators (NAT64, SIIT, the CLAT's), as the registry of
:mod:`ipv6.tunnel` lists them.

It sits above both :mod:`ipv6.tunnel` and :mod:`ipv6.translate`: they write
the registry and signal the service; it imports their planes. Neither imports
it: they start it by its module's name, as a process.
"""
