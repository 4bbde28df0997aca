"""A real OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

It speaks enough HTTP/1.1 (keep-alive, Content-Length bodies) for the `openai` SDK, `litellm` and
`httpx`, and serves `POST /v1/chat/completions` (also `/chat/completions`). It runs an asyncio
loop in a background thread, so a fixed latency costs no thread per request.

    with FakeOpenAIServer(latency_s=0.05, responder=lambda body: "SELECT 1") as srv:
        client = openai.AsyncOpenAI(base_url=srv.url, api_key="x")
        ...
        srv.counts[prompt_hash(messages)]  # how many requests this prompt received

Faults (what real endpoints do): "429", "500", "401", "404", "400", "context" (a 400 naming
the context length), "timeout" (hold the request for `hang_s`),
"truncated" (promise more body bytes than sent, then close), "invalid_json" (a 200 whose body
is not JSON), "drop" (close the connection without a response). They come from `script` first
(one entry per request, None = answer normally), then at `fault_rate` from `faults`, drawn with
a seeded RNG. `fault_filter(body)` limits faults to some requests (e.g. first attempts only).

Faults never call the responder, so a scripted responder sees only answered requests.
The responder gets the request body (dict) and returns the message content (str), or a full
response dict (returned as is). It runs on the server's thread; keep it quick and thread-safe.

Batches (`POST /v1/files` multipart upload, `GET /v1/files/ID/content`, `POST /v1/batches`,
`GET /v1/batches/ID`): a batch's lines are answered by the responder when it is created; the
batch reports `in_progress` for `batch_polls` retrieves, then `completed` with an output file
and, for the custom_ids in `batch_fail_ids`, an error file. `batches_created` counts creates.

Run standalone (e.g. in a separate process for benchmarks):
    python tests/fake_openai_server.py --port 0 --latency 0.05   # prints the URL on stdout
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

FAULTS = ("429", "500", "timeout", "truncated", "invalid_json", "drop", "401", "404", "400", "context")
#: Client-error faults: status and OpenAI-style error body (what vLLM / OpenAI send).
_CLIENT_FAULTS = {
    "401": (401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                            "code": "invalid_api_key"}}),
    "404": (404, {"error": {"message": "The model `m` does not exist.", "type": "NotFoundError"}}),
    "400": (400, {"error": {"message": "temperature: must be at most 2", "type": "BadRequestError"}}),
    "context": (400, {"error": {"message": "This model's maximum context length is 8 tokens. However, you "
                                           "requested 90 tokens.", "type": "BadRequestError",
                                "code": "context_length_exceeded"}}),
}


def prompt_hash(messages: list[dict]) -> str:
    """The key the server counts requests by: sha256 of the canonical messages JSON."""
    data = json.dumps(messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def default_responder(body: dict) -> str:
    """Deterministic answer derived from the prompt: 'answer-<first 8 hex of prompt hash>'."""
    return f"answer-{prompt_hash(body.get('messages', []))[:8]}"


def _reason(status: int) -> str:
    return {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error"}.get(status, "Unknown")


class FakeOpenAIServer:
    def __init__(self, *, responder: Callable[[dict], Any] | None = None, latency_s: float = 0.0,
                 fault_rate: float = 0.0, faults: tuple[str, ...] | list[str] = ("429", "500"),
                 script: list[str | None] | None = None, fault_filter: Callable[[dict], bool] | None = None,
                 hang_s: float = 30.0, seed: int = 0, host: str = "127.0.0.1", port: int = 0,
                 record_bodies: bool = True):
        unknown = [f for f in (*faults, *(s for s in (script or []) if s)) if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {FAULTS}")
        self.responder = responder or default_responder
        self.latency_s = latency_s
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.script = list(script or [])
        self.fault_filter = fault_filter
        self.hang_s = hang_s
        self.host, self.port = host, port
        self.record_bodies = record_bodies
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # prompt hash -> requests received
        self.faults_served: Counter[str] = Counter()
        self.requests: list[dict] = []  # request bodies, in arrival order (if record_bodies)
        self.n_requests = 0
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_fail_ids: set[str] = set()
        self.batch_polls = 1
        self.batches_created = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        """Base URL to give a client (`api_base`): http://127.0.0.1:PORT/v1"""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(target=self._run, name="fake-openai-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._start_error is not None:
            raise self._start_error
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def _shutdown() -> None:
            # Close the listener, cancel open connections and wait for them, then stop the loop,
            # so no pending task is left for the garbage collector to complain about.
            if self._server is not None:
                self._server.close()
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(_shutdown(), loop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.faults_served.clear()
            self.requests.clear()
            self.n_requests = 0

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self.port, backlog=1024))
            self.port = self._server.sockets[0].getsockname()[1]
            self._loop = loop
        except BaseException as e:  # surfaced by start()
            self._start_error = e
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.close()

    # ---------------------------------------------------------------- HTTP
    def _pick_fault(self, body: dict) -> str | None:
        with self._lock:
            if self.fault_filter is not None and not self.fault_filter(body):
                return None
            if self.script:
                return self.script.pop(0)
            if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.faults)
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                try:
                    method, path, _ = line.decode("latin-1").split(" ", 2)
                except ValueError:
                    return
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length", "0") or 0)
                raw = await reader.readexactly(n) if n else b""
                if path.split("?")[0].startswith(("/v1/files", "/v1/batches")):
                    keep = await self._respond_batch(method, path.split("?")[0], raw, headers, writer)
                else:
                    keep = await self._respond(method, path.split("?")[0], raw, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return
        finally:
            try:
                writer.close()
            except Exception:
                pass

    @staticmethod
    def _send(writer: asyncio.StreamWriter, status: int, payload: bytes,
              content_length: int | None = None) -> None:
        head = (f"HTTP/1.1 {status} {_reason(status)}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload) if content_length is None else content_length}\r\n"
                "Connection: keep-alive\r\n\r\n")
        writer.write(head.encode("latin-1") + payload)

    async def _respond(self, method: str, path: str, raw: bytes, writer: asyncio.StreamWriter) -> bool:
        if method != "POST" or path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send(writer, 404, b'{"error": {"message": "not found"}}')
            await writer.drain()
            return True
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._send(writer, 400, b'{"error": {"message": "request body is not JSON"}}')
            await writer.drain()
            return True
        key = prompt_hash(body.get("messages", []))
        with self._lock:
            self.counts[key] += 1
            self.n_requests += 1
            if self.record_bodies:
                self.requests.append(body)
        fault = self._pick_fault(body)
        if fault:
            with self._lock:
                self.faults_served[fault] += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if fault == "timeout":
            await asyncio.sleep(self.hang_s)
            return False
        if fault == "drop":
            return False
        if fault == "429":
            self._send(writer, 429, b'{"error": {"message": "rate limited", "type": "rate_limit"}}')
            await writer.drain()
            return True
        if fault == "500":
            self._send(writer, 500, b'{"error": {"message": "internal error", "type": "server"}}')
            await writer.drain()
            return True
        if fault in _CLIENT_FAULTS:
            status, payload = _CLIENT_FAULTS[fault]
            self._send(writer, status, json.dumps(payload).encode("utf-8"))
            await writer.drain()
            return True
        if fault == "invalid_json":
            self._send(writer, 200, b'{"id": "chatcmpl-x", "choices": [ this is not json')
            await writer.drain()
            return True
        if fault == "truncated":  # a canned body, so scripted responders are not consumed by faults
            data = json.dumps(self._completion(body, "truncated")).encode("utf-8")
            self._send(writer, 200, data[: len(data) // 2], content_length=len(data))
            await writer.drain()
            return False
        try:
            out = self.responder(body)
        except Exception as e:  # a broken responder is a 500, visible to the test
            self._send(writer, 500, json.dumps({"error": {"message": f"responder: {e}"}}).encode())
            await writer.drain()
            return True
        payload = out if isinstance(out, dict) else self._completion(body, str(out))
        data = json.dumps(payload).encode("utf-8")
        self._send(writer, 200, data)
        await writer.drain()
        return True

    # ---------------------------------------------------------------- files and batches
    async def _respond_batch(self, method: str, path: str, raw: bytes, headers: dict,
                             writer: asyncio.StreamWriter) -> bool:
        def send(status: int, obj: Any) -> None:
            self._send(writer, status, obj if isinstance(obj, bytes) else json.dumps(obj).encode("utf-8"))

        parts = path.rstrip("/").split("/")  # ['', 'v1', 'files'|'batches', id?, 'content'?]
        with self._lock:
            if method == "POST" and parts[2:] == ["files"]:
                data = _multipart_file(raw, headers.get("content-type", ""))
                if data is None:
                    send(400, {"error": {"message": "no file part"}})
                else:
                    fid = f"file-{len(self.files) + 1:04d}"
                    self.files[fid] = data
                    send(200, {"id": fid, "object": "file", "bytes": len(data), "created_at": 0,
                               "filename": "input.jsonl", "purpose": "batch", "status": "processed"})
            elif method == "GET" and len(parts) == 5 and parts[2] == "files" and parts[4] == "content":
                if parts[3] in self.files:
                    send(200, self.files[parts[3]])
                else:
                    send(404, {"error": {"message": "no such file"}})
            elif method == "POST" and parts[2:] == ["batches"]:
                body = json.loads(raw or b"{}")
                data = self.files.get(body.get("input_file_id"))
                if data is None:
                    send(400, {"error": {"message": "input_file_id: no such file"}})
                else:
                    self.batches_created += 1
                    bid = f"batch-{len(self.batches) + 1:04d}"
                    self.batches[bid] = self._run_batch(bid, body, data)
                    send(200, self._batch_view(bid, count_poll=False))
            elif method == "GET" and len(parts) == 4 and parts[2] == "batches":
                if parts[3] in self.batches:
                    send(200, self._batch_view(parts[3]))
                else:
                    send(404, {"error": {"message": "no such batch"}})
            else:
                send(404, {"error": {"message": "not found"}})
        await writer.drain()
        return True

    def _run_batch(self, bid: str, body: dict, data: bytes) -> dict:
        out, err = [], []
        for raw in data.decode("utf-8").splitlines():
            if not raw.strip():
                continue
            req = json.loads(raw)
            cid = req["custom_id"]
            self.counts[prompt_hash(req["body"].get("messages", []))] += 1
            if cid in self.batch_fail_ids:
                err.append({"id": f"req-{cid}", "custom_id": cid, "response": None,
                            "error": {"code": "server_error", "message": "the model failed on this line"}})
                continue
            content = self.responder(req["body"])
            payload = content if isinstance(content, dict) else self._completion(req["body"], str(content))
            out.append({"id": f"req-{cid}", "custom_id": cid,
                        "response": {"status_code": 200, "request_id": f"r-{cid}", "body": payload},
                        "error": None})
        ofid = f"file-out-{bid}"
        self.files[ofid] = "".join(json.dumps(r) + "\n" for r in out).encode("utf-8")
        efid = None
        if err:
            efid = f"file-err-{bid}"
            self.files[efid] = "".join(json.dumps(r) + "\n" for r in err).encode("utf-8")
        return {"id": bid, "endpoint": body.get("endpoint"), "input_file_id": body.get("input_file_id"),
                "polls": 0, "output_file_id": ofid, "error_file_id": efid,
                "counts": {"total": len(out) + len(err), "completed": len(out), "failed": len(err)}}

    def _batch_view(self, bid: str, count_poll: bool = True) -> dict:
        b = self.batches[bid]
        if count_poll:
            b["polls"] += 1
        done = b["polls"] >= self.batch_polls
        counts = b["counts"] if done else {"total": b["counts"]["total"], "completed": 0, "failed": 0}
        return {"id": bid, "object": "batch", "endpoint": b["endpoint"], "input_file_id": b["input_file_id"],
                "completion_window": "24h", "created_at": 0, "status": "completed" if done else "in_progress",
                "output_file_id": b["output_file_id"] if done else None,
                "error_file_id": b["error_file_id"] if done else None, "request_counts": counts}

    @staticmethod
    def _completion(body: dict, content: str) -> dict:
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        pt, ct = max(1, prompt_chars // 4), max(1, len(content) // 4)
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        }


def _multipart_file(raw: bytes, content_type: str) -> bytes | None:
    """The content of the part named "file" of a multipart/form-data body."""
    if "boundary=" not in content_type:
        return None
    boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"').encode("latin-1")
    for part in raw.split(b"--" + boundary):
        head, sep, content = part.partition(b"\r\n\r\n")
        if sep and b'name="file"' in head:
            return content[:-2] if content.endswith(b"\r\n") else content
    return None


def main() -> None:
    import argparse
    import signal

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--faults", default="429,500")
    args = ap.parse_args()
    srv = FakeOpenAIServer(host=args.host, port=args.port, latency_s=args.latency,
                           fault_rate=args.fault_rate, faults=tuple(args.faults.split(",")),
                           record_bodies=False).start()
    print(srv.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    srv.stop()


if __name__ == "__main__":
    main()
