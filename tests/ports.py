"""A free loopback port for the tests that start servers or torch.distributed rendezvous."""

import socket


def free_port() -> int:
    """A port nobody listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
