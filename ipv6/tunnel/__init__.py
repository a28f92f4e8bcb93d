"""6to4 and configured 6in4 tunnels: RFC 3964's checks (pure), the userspace
plane (TUN + raw IPv4 socket, a Trio service) and the kernel's sit driver."""

from ._control import TunnelError
from ._control import add as add_tunnel
from ._control import delete as delete_tunnel
from ._control import status as tunnel_status
from ._registry import TunnelSpec

__all__ = ["TunnelError", "TunnelSpec", "add_tunnel", "delete_tunnel", "tunnel_status"]
