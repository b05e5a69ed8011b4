"""A local HTTP server in a thread for the tests that download or browse (no network is reached)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from socketserver import BaseServer


@contextlib.contextmanager
def serving(server: BaseServer, poll_interval: float = 0.5) -> Iterator[BaseServer]:
    """Serve `server` in a daemon thread for the block; shut it down and close its socket after."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
