"""Bytes on a socket, for tests of what an HTTP client library would not send: trickled
headers, a cut-off body, two framings, pipelined requests."""

from __future__ import annotations

import socket
from urllib.parse import urlparse


def exchange(url: str, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection to ``url``'s host; read until the server closes it."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=60) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
