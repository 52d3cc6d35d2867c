"""A tiny inference server: a linear model stored as JSON, served with the standard library.

GET /health -> {"status": "ok"}; POST /predict {"features": [..]} -> {"score": float, "label": str}.
`python3 serve.py --predict 1.0 2.0 0.5` scores once and exits (for smoke tests without a port).
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL = json.loads((Path(__file__).parent / "model.json").read_text())


def predict(features):
    if len(features) != len(MODEL["weights"]):
        raise ValueError(f"expected {len(MODEL['weights'])} features, got {len(features)}")
    score = MODEL["bias"] + sum(w * x for w, x in zip(MODEL["weights"], features))
    return {"score": round(score, 6), "label": MODEL["labels"][int(score > MODEL["threshold"])]}


class Handler(BaseHTTPRequestHandler):
    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self._reply(200, {"status": "ok", "model": MODEL["name"]})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/predict":
            return self._reply(404, {"error": "not found"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self._reply(200, predict([float(x) for x in body["features"]]))
        except (ValueError, KeyError, TypeError) as e:
            self._reply(400, {"error": str(e)})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--predict"]:
        print(json.dumps(predict([float(x) for x in sys.argv[2:]])))
    else:
        port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
        ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
