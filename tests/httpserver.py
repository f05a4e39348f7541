"""A real HTTP server on 127.0.0.1 serving the cases the image fetcher must survive."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from imagegen import image_bytes

OK_PNG = image_bytes(180, 140, "PNG", seed=42)
BIG_BODY = b"\x89PNG" + b"\x00" * 300_000


class _Handler(BaseHTTPRequestHandler):
    flaky_hits: dict[str, int] = {}

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        if path == "/ok.png":
            self._send(200, OK_PNG, {"Content-Type": "image/png"})
        elif path == "/big.png":
            self._send(200, BIG_BODY)
        elif path == "/big-chunked.png":
            # No Content-Length: the cap must hold while streaming.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"\x00" * 10_000)
        elif path == "/slow.png":
            # Drips bytes: each read is quick, the whole transfer is not. Bounded to 6 s.
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            deadline = time.monotonic() + 6
            try:
                while time.monotonic() < deadline:
                    self.wfile.write(b"\x00")
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/redirect-ftp":
            self._send(302, b"", {"Location": "ftp://127.0.0.1/secret.png"})
        elif path == "/redirect-file":
            self._send(301, b"", {"Location": "file:///etc/passwd"})
        elif path == "/redirect-ok":
            self._send(302, b"", {"Location": "/ok.png"})
        elif path == "/redirect-loop":
            self._send(302, b"", {"Location": "/redirect-loop"})
        elif path == "/flaky.png":
            hits = _Handler.flaky_hits.get(self.path, 0)
            _Handler.flaky_hits[self.path] = hits + 1
            if hits == 0:
                self._send(503, b"try later")
            else:
                self._send(200, OK_PNG)
        elif path == "/not-an-image.png":
            self._send(200, b"<html>this is not an image</html>")
        else:
            self._send(404, b"not found")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients that hang up mid-body (size caps, deadlines) are expected here


@contextmanager
def serve() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
