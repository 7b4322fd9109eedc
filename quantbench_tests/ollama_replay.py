"""A loopback stand-in for Ollama's HTTP API, for tests: 127.0.0.1, an ephemeral port, a background thread.

Ollama cannot be installed on these machines (no network but the package registries), so the
OllamaEngine is tested against this. It replays the response shapes of Ollama's API documentation
(docs/api.md in ollama/ollama): they were written from that document, NOT captured from a live
Ollama, and the version string is a placeholder. What it answers:

    GET  /api/version   {"version": ...}
    GET  /api/tags      {"models": [{name, model, modified_at, size, digest, details}]}
    POST /api/generate  streamed NDJSON (default, "stream": true) or one JSON object
    POST /api/chat      the same, with {"message": {"role": "assistant", "content": ...}}
    POST /api/pull      status lines: pulling manifest, downloading <digest> (total/completed),
                        verifying sha256 digest, writing manifest, success; an unknown tag streams
                        an {"error": ...} line (HTTP 500 with stream false)

Streaming: `Content-Type: application/x-ndjson`, chunked, one JSON object per line; every object but
the last has "done": false; the last has "done": true, "done_reason" and the counters
(total_duration, load_duration, prompt_eval_count, prompt_eval_duration, eval_count,
eval_duration; durations in nanoseconds). A model not pulled answers 404 {"error": "model ... not found"}.

Generation is a script, not a model: the reply for a prompt is `replies[prompt]` or `default_reply`,
split into word "tokens"; `num_predict` cuts it (done_reason "length"), a `stop` string ends it
before the stop ("stop"). Durations are exact multiples of per-token constants, so a test can check
the nanosecond-to-millisecond conversion to the last digit. Every request body is kept in `requests`.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLACEHOLDER_VERSION = "0.0.0-replay"

# Per-token costs in nanoseconds, chosen so every conversion has a fractional part in ms.
LOAD_NS = 12_345_678
PROMPT_NS_PER_TOKEN = 1_234_567
EVAL_NS_PER_TOKEN = 23_456_789


@dataclass(frozen=True)
class ReplayModel:
    name: str                   # "smollm2:135m"
    digest: str                 # sha256 hex of the manifest, as /api/tags lists it
    size: int = 145_000_000
    family: str = "llama"
    parameter_size: str = "134.52M"
    quantization_level: str = "Q8_0"

    def tag_entry(self) -> dict:
        return {
            "name": self.name, "model": self.name, "modified_at": "2026-11-22T12:00:00.000000000Z",
            "size": self.size, "digest": self.digest,
            "details": {"parent_model": "", "format": "gguf", "family": self.family, "families": [self.family],
                        "parameter_size": self.parameter_size, "quantization_level": self.quantization_level},
        }


@dataclass
class ReplayRequest:
    method: str
    path: str
    body: dict | None


@dataclass
class OllamaReplay:
    """Start with `with OllamaReplay(local=[...], registry=[...]) as ollama:`; `ollama.url` is the host."""

    local: list[ReplayModel] = field(default_factory=list)      # already pulled
    registry: list[ReplayModel] = field(default_factory=list)   # pullable
    replies: dict[str, str] = field(default_factory=dict)
    default_reply: str = "The answer is B."
    chunk_delay_s: float = 0.002  # between streamed lines, so time to first token < wall time
    version: str = PLACEHOLDER_VERSION

    def __post_init__(self):
        self.requests: list[ReplayRequest] = []
        self.final_messages: list[dict] = []  # the "done": true objects sent, for exact comparisons
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "OllamaReplay":
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.replay = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ollama-replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self) -> "OllamaReplay":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def requests_to(self, path: str) -> list[ReplayRequest]:
        return [r for r in list(self.requests) if r.path == path]

    # ---- behaviour ---------------------------------------------------------------------------------
    def _local(self, name: str) -> ReplayModel | None:
        wanted = {name, f"{name}:latest"}
        return next((m for m in self.local if m.name in wanted), None)

    def _generation(self, prompt: str, options: dict) -> tuple[list[str], str, dict]:
        """The reply's tokens, done_reason and counters for one request."""
        tokens = re.findall(r"\s*\S+", self.replies.get(prompt, self.default_reply))
        reason = "stop"
        stops = options.get("stop") or []
        text = ""
        kept: list[str] = []
        for tok in tokens:
            hit = next((s for s in stops if s in text + tok), None)
            if hit:
                cut = (text + tok).index(hit) - len(text)
                if cut > 0:
                    kept.append(tok[:cut])
                break
            kept.append(tok)
            text += tok
        limit = options.get("num_predict")
        if limit is not None and limit >= 0 and len(kept) > limit:
            kept, reason = kept[:limit], "length"
        n_prompt = max(1, len(prompt.split()))
        counters = {
            "total_duration": LOAD_NS + n_prompt * PROMPT_NS_PER_TOKEN + len(kept) * EVAL_NS_PER_TOKEN,
            "load_duration": LOAD_NS,
            "prompt_eval_count": n_prompt,
            "prompt_eval_duration": n_prompt * PROMPT_NS_PER_TOKEN,
            "eval_count": len(kept),
            "eval_duration": len(kept) * EVAL_NS_PER_TOKEN,
        }
        return kept, reason, counters


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    replay: OllamaReplay


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # Ollama streams with chunked transfer encoding

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return self._json(400, {"error": "invalid JSON body"})
        self._dispatch(body)

    def _dispatch(self, body: dict | None) -> None:
        replay = self.server.replay
        with replay._lock:
            replay.requests.append(ReplayRequest(self.command, self.path, body))
        route = (self.command, self.path)
        try:
            if route == ("GET", "/api/version"):
                return self._json(200, {"version": replay.version})
            if route == ("GET", "/api/tags"):
                return self._json(200, {"models": [m.tag_entry() for m in replay.local]})
            if route == ("POST", "/api/generate"):
                return self._generate(replay, body, chat=False)
            if route == ("POST", "/api/chat"):
                return self._generate(replay, body, chat=True)
            if route == ("POST", "/api/pull"):
                return self._pull(replay, body)
            return self._json(404, {"error": "404 page not found"})
        except (BrokenPipeError, ConnectionResetError):
            pass

    # ---- endpoints ---------------------------------------------------------------------------------
    def _generate(self, replay: OllamaReplay, body: dict, chat: bool) -> None:
        name = body.get("model") or ""
        if replay._local(name) is None:
            return self._json(404, {"error": f"model '{name}' not found"})
        if chat:
            prompt = "\n".join(m.get("content", "") for m in body.get("messages") or [])
        else:
            prompt = body.get("prompt") or ""
        tokens, reason, counters = replay._generation(prompt, body.get("options") or {})

        def piece(text: str) -> dict:
            head = {"model": name, "created_at": _now()}
            if chat:
                return {**head, "message": {"role": "assistant", "content": text}, "done": False}
            return {**head, "response": text, "done": False}

        final = {**piece(""), "done": True, "done_reason": reason, **counters}
        if not chat and not body.get("raw"):
            final["context"] = list(range(counters["prompt_eval_count"] + counters["eval_count"]))
        if body.get("stream", True):
            with replay._lock:
                replay.final_messages.append(final)
            return self._ndjson([piece(t) for t in tokens] + [final], replay.chunk_delay_s)
        whole = {**final}
        if chat:
            whole["message"] = {"role": "assistant", "content": "".join(tokens)}
        else:
            whole["response"] = "".join(tokens)
        with replay._lock:
            replay.final_messages.append(whole)
        return self._json(200, whole)

    def _pull(self, replay: OllamaReplay, body: dict) -> None:
        name = body.get("model") or body.get("name") or ""
        wanted = {name, f"{name}:latest"}
        model = next((m for m in replay.registry if m.name in wanted), None)
        stream = body.get("stream", True)
        if model is None:
            error = {"error": "pull model manifest: file does not exist"}
            if not stream:
                return self._json(500, error)
            return self._ndjson([{"status": "pulling manifest"}, error], 0)
        layer = f"sha256:{model.digest}"
        lines = [{"status": "pulling manifest"},
                 {"status": f"pulling {model.digest[:12]}", "digest": layer, "total": model.size},
                 {"status": f"pulling {model.digest[:12]}", "digest": layer, "total": model.size,
                  "completed": model.size // 2},
                 {"status": f"pulling {model.digest[:12]}", "digest": layer, "total": model.size,
                  "completed": model.size},
                 {"status": "verifying sha256 digest"}, {"status": "writing manifest"},
                 {"status": "success"}]
        with replay._lock:
            if replay._local(model.name) is None:
                replay.local.append(model)
        if not stream:
            return self._json(200, {"status": "success"})
        return self._ndjson(lines, replay.chunk_delay_s)

    # ---- responses ---------------------------------------------------------------------------------
    def _json(self, status: int, obj: dict) -> None:
        payload = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _ndjson(self, objs: list[dict], delay_s: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, obj in enumerate(objs):
            if i and delay_s:
                time.sleep(delay_s)
            line = json.dumps(obj).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
