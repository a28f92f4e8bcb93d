"""Dual-stack behaviour: the rules of what a socket of each kind accepts and
reaches (IPV6_V6ONLY, v4-mapped addresses), the sockets made by them, the
probe and Happy Eyeballs check that say what connects to what, and the
echo service a dual-stack test talks to.

Modules: ``_dualstack`` (the rules, pure), ``_dualsockets``, ``_dualreport``,
``_echo``. The public names are ``ipv6``'s (``make_socket``, ``run_probe``,
``EchoService``, ``Kind``...).
"""
