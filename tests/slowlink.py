"""A slow network link in front of a real server: a TCP forwarder on 127.0.0.1 that holds
each chunk a client sends for ``delay`` seconds before passing it on.

For tests that must stop a process in the middle of its conversation with a server (a
SIGKILL half-way through ``team migrate``): through the link each request takes a known
time, so "half-way" lasts long enough to be met, without a test hook in the product.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


class SlowLink:
    def __init__(self, host: str, port: int, *, delay: float) -> None:
        self.target = (host, port)
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SlowLink:
        t = threading.Thread(target=self._accept, name="slowlink-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        for s in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                s.close()
        for t in self._threads:
            t.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=10)
            self._sockets += [client, server]
            for src, dst, slow in ((client, server, True), (server, client, False)):
                t = threading.Thread(
                    target=self._pipe, args=(src, dst, slow), name="slowlink-pipe", daemon=True
                )
                t.start()
                self._threads.append(t)

    def _pipe(self, src: socket.socket, dst: socket.socket, slow: bool) -> None:
        src.settimeout(0.2)
        try:
            while not self._stop.is_set():
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                if slow:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
