"""The addresses of a cluster on one machine: each node on its own loopback address, since Ray swaps
127.0.0.1 for the machine's network address (which would leave loopback)."""

HEAD_IP = "127.0.0.2"


def worker_ip(index: int) -> str:
    """Loopback address of worker ``index`` (0-based): 127.0.0.3, 127.0.0.4, ..."""
    return f"127.0.0.{3 + index}"
