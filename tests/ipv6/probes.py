"""Small programs the live translator tests run inside lab hosts."""

# One UDP datagram to port 9 of argv[1]; prints what the socket heard back: the
# exception an ICMPv6 error turns into (Linux: port unreachable ConnectionRefusedError,
# administratively prohibited PermissionError), "answered", or TimeoutError.
UDP_ERROR_PROBE = """\
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], 9))
s.send(b"anyone?")
try:
    s.recv(100)
    print("answered")
except OSError as exc:
    print(type(exc).__name__)
"""
