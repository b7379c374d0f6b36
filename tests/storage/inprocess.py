"""The engine owner (``storage/owner.py``) served in the test's own process, on its own chDB
dir, so the test can stop it or cut its answers short; and a proxy that cuts answers."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from liveinsight.storage.owner import Engine, make_server

USER = "li"
PASSWORD = "p@ss:w/rd%?#"
AUTH = (USER, PASSWORD)


@dataclass
class Owner:
    url: str
    engine: Engine
    scratch: Path
    server: ThreadingHTTPServer
    _thread: threading.Thread = field(repr=False)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def store_url(self) -> str:
        """The URL the HTTP transport takes (credentials percent-encoded)."""
        return self.url.replace("://", f"://{USER}:{quote(PASSWORD, safe='')}@")

    def post(self, sql: str | bytes, params: dict[str, str] | None = None,
             auth: tuple[str, str] | None = AUTH, **kw: Any) -> httpx.Response:
        body = sql.encode() if isinstance(sql, str) else sql
        return httpx.post(self.url, params=params, content=body, auth=auth, timeout=60, **kw)

    def rows(self, sql: str, params: dict[str, str] | None = None) -> str:
        answer = self.post(sql, params)
        assert answer.status_code == 200, answer.text
        return answer.text

    def stop(self) -> None:
        """Stop answering and close the listening socket (a server gone away)."""
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join()
        self.server.server_close()


@contextlib.contextmanager
def serving_owner(root: Path, connections: int = 1, config: Path | None = None
                  ) -> Iterator[Owner]:
    """An owner on ``root/chdb`` with ``connections`` pooled connections (one by default: what
    a request leaves on its connection is seen by the next), staging inserts in
    ``root/scratch``, requiring :data:`AUTH`; its engine started with the server
    configuration file ``config`` if given (chDB reads ``?config-file=`` in its path)."""
    path = root / "chdb"
    engine = Engine(Path(f"{path}?config-file={config}") if config else path,
                    connections=connections)
    scratch = root / "scratch"
    server = make_server(engine, scratch, AUTH)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    owner = Owner(f"http://127.0.0.1:{server.server_address[1]}", engine, scratch, server, thread)
    try:
        yield owner
    finally:
        owner.stop()
        engine.close()


class CuttingProxy:
    """A TCP proxy in front of ``port`` standing for the network: it passes everything until
    :meth:`cut_after` is called, then closes the client's connection once that many more
    bytes of answers have gone to it (a connection broken in the middle of an answer);
    :meth:`kill` closes every connection and the port (a server gone away)."""

    def __init__(self, port: int) -> None:
        self._upstream = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._budget: int | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, size: int) -> None:
        with self._lock:
            self._budget = size

    def kill(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accepting thread (close alone does not)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self._upstream))
        with self._lock:
            self._sockets += [client, upstream]

        def requests() -> None:
            with contextlib.suppress(OSError):
                while chunk := client.recv(65536):
                    upstream.sendall(chunk)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)

        threading.Thread(target=requests, daemon=True).start()
        with contextlib.suppress(OSError):
            while chunk := upstream.recv(65536):
                with self._lock:
                    if self._budget is not None:
                        chunk = chunk[: self._budget]
                        self._budget -= len(chunk)
                    cut = self._budget == 0
                    if cut:
                        self._budget = None
                client.sendall(chunk)
                if cut:
                    break
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)
        client.close()
        upstream.close()
