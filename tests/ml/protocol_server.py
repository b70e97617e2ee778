"""A small model server speaking Label Studio's ML backend protocol, on loopback, for the tests of
what the client must absorb (failures, retries, slow answers, concurrency) and for the benchmark.

Not a stand-in for Label Studio's package (tests/thirdparty/ml_colour_backend.py runs that): a
real HTTP server in a thread whose answers a test sets. /predict answers one box per task of the
first `RectangleLabels` label of the config it was sent, after `delay` seconds; the first
`fail_first` calls answer 500; it counts calls and the most calls it had in flight at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Behaviour:
    delay: float = 0.0
    fail_first: int = 0
    fail_status: int = 500
    model_version: Any = "stub-1"
    #: Called with (tasks, body) to answer /predict's results instead of the default boxes.
    answer: Any = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _first_rectangle(config: str) -> tuple[str, str]:
    match = re.search(r'<RectangleLabels name="([^"]+)"[^>]*>\s*<Label value="([^"]+)"', config)
    return (match.group(1), match.group(2)) if match else ("label", "Object")


def _handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200, {"status": "UP", "model_class": "Stub"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            path = self.path.rstrip("/")
            with behaviour.lock:
                behaviour.calls.append({"path": path, "body": body, "headers": dict(self.headers)})
                number = sum(1 for c in behaviour.calls if c["path"] == "/predict")
            if path == "/setup":
                self._send(200, {"model_version": behaviour.model_version})
                return
            if path != "/predict":
                self._send(404, {"detail": "no such route"})
                return
            with behaviour.lock:
                behaviour.in_flight += 1
                behaviour.most_in_flight = max(behaviour.most_in_flight, behaviour.in_flight)
            try:
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                if number <= behaviour.fail_first:
                    self._send(behaviour.fail_status, {"detail": "RuntimeError: the model is warming up"})
                    return
                tasks = body["tasks"]
                if behaviour.answer is not None:
                    self._send(200, {"results": behaviour.answer(tasks, body)})
                    return
                name, value = _first_rectangle(body["label_config"])
                region = {
                    "from_name": name,
                    "to_name": "image",
                    "type": "rectanglelabels",
                    "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rectanglelabels": [value]},
                    "original_width": 200,
                    "original_height": 100,
                }
                self._send(200, {"results": [{"result": [region], "score": 0.8} for _ in tasks]})
            finally:
                with behaviour.lock:
                    behaviour.in_flight -= 1

    return Handler


class ProtocolServer:
    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.behaviour))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def predict_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.behaviour.calls if c["path"] == "/predict"]

    def __enter__(self) -> ProtocolServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
