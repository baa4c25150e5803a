"""An HTTP proxy in front of the MLflow server that loses responses on purpose: for the chosen
request path it forwards the request (the server commits it), then drops the client's connection
without a byte of the answer, as a load balancer restart or a network cut would."""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class LossyProxy:
    def __init__(self, upstream: str, drop_path: str, times: int = 1):
        up = urlparse(upstream)
        self.host, self.port = up.hostname, up.port
        self.drop_path, self.left = drop_path, times
        self.dropped: list[int] = []  # upstream status of each request whose response was lost
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LossyProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _take(self, path: str) -> bool:
        with self._lock:
            if self.left > 0 and urlparse(path).path == self.drop_path:
                self.left -= 1
                return True
            return False

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        n = int(self.rfile.readline().split(b";")[0], 16)
                        if n == 0:
                            self.rfile.readline()
                            return bytes(out)
                        out += self.rfile.read(n)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("content-length") or 0))

            def _forward(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=120)
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                if proxy._take(self.path):
                    proxy.dropped.append(resp.status)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # committed upstream, never answered
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

        return Handler
