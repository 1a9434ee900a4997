"""A real webhook receiver: a threaded HTTP server on 127.0.0.1 (a free port) that records every POST."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class Receiver:
    """Records each POST as {"headers", "body", "at" (monotonic), "path"} in `requests`.
    `responses`: statuses answered in turn (the last one repeats); "hang" waits until the receiver
    stops (at most 30 s), then answers 200; "close" closes the connection without answering; a
    callable is called (in the request's thread, e.g. to wait for the test) and its result answered."""

    def __init__(self, responses=(200,)):
        self.responses = list(responses)
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                with receiver._lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "at": time.monotonic(),
                                              "path": self.path})
                    n = len(receiver.requests)
                answer = receiver.responses[min(n, len(receiver.responses)) - 1]
                if callable(answer):
                    answer = answer()
                if answer == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if answer == "hang":
                    receiver._stop.wait(30)
                    answer = 200
                self.send_response(answer)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None   # senders that gave up (timeouts)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def stop(self):
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
