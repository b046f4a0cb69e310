"""The baseline of the realtime benchmarks: a minimal asyncio `websockets` server that
relays every text frame it receives to every connected client, the sender included.

No authentication, no database, no channel layer: what is left is the cost of WebSocket
framing and of one asyncio process writing to many sockets, the floor under any fan-out.
Run as its own process (`python -m bench.bare_server --port N`), as daphne is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection, broadcast, serve

CLIENTS: set[ServerConnection] = set()


async def relay(connection: ServerConnection) -> None:
    CLIENTS.add(connection)
    try:
        async for frame in connection:
            if isinstance(frame, str):
                broadcast(CLIENTS, frame)
    finally:
        CLIENTS.discard(connection)


async def main(port: int) -> None:
    # No compression (our client asks for none from either server, so both send the same
    # bytes); no keepalive pings, which the benchmarks' short runs do not need.
    async with serve(relay, "127.0.0.1", port, compression=None, ping_interval=None,
                     max_queue=None):
        await asyncio.get_running_loop().create_future()


@dataclass
class BareServer:
    """bench.bare_server in its own process."""

    port: int = 0
    process: subprocess.Popen | None = None

    def start(self) -> BareServer:
        # Imported here: the server process itself needs nothing of Django's.
        from bench import environment
        from tests.servers import free_port

        self.port = free_port()
        log_path = environment.DATA_DIR / f"bare-{self.port}.log"
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.bare_server", "--port", str(self.port)],
                cwd=environment.ROOT, stdout=log, stderr=log, env=dict(os.environ))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bare server exited; see {log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("bare server did not start listening")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
