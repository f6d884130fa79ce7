"""Recording wrapper around our mock provider, for server-side rate-limit accounting (issue 3 benchmark).

Run with a python that can import ``liter_llm.testing`` (the ours venv):

    .bench-venvs/ours/bin/python benches/batch_server.py --latency-ms 50

It starts ``liter_llm.testing.MockServer(latency_ms=..., record=True)`` on 127.0.0.1, prints
``batch server listening on http://127.0.0.1:N/v1`` and then reads commands from stdin, one per line:

* ``dump PATH``: write the requests received since the last dump to PATH as JSON
  ``{"rows": [[received_at_s, prompt_tokens, completion_tokens], ...], "other": N}``, clear the server's log,
  and answer ``ok N`` on stdout. ``other`` counts requests that were not chat completions.
* ``faults N RETRY_AFTER_S``: queue N faults ``{"status": 429, "retry_after": RETRY_AFTER_S}`` (the next N chat
  requests get a 429 with that Retry-After), answer ``ok N``.
* ``quit`` (or EOF, or SIGTERM): stop.

Each dumped row also carries the last user message (4th field), so retries of one request can be paired.

Token accounting is the mock's own (src/mock/chat.rs), with the same counter: prompt = ``count_tokens(model=...,
messages=...)`` (tiktoken-exact for OpenAI models, with the per-message framing); completion = the o200k_base tokens
of the reply, the echoed last user message, capped at ``max_tokens`` / ``max_completion_tokens`` (a cut reply bills
exactly the limit), times ``n``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from liter_llm import count_tokens
from liter_llm.testing import MockServer


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict) and isinstance(p.get("text"), str):
                parts.append(p["text"])
        return " ".join(parts)
    return ""


def tokens_of(body: Any) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) exactly as the mock computes its usage."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return 0, 0
    model = body.get("model") if isinstance(body.get("model"), str) else ""
    prompt = count_tokens(model=model, messages=body["messages"])
    last_user = ""
    for m in body["messages"]:
        if isinstance(m, dict) and m.get("role") == "user":
            last_user = _content_text(m.get("content"))
    comp = count_tokens(model="gpt-4o", text=last_user)  # the echoed reply, in o200k_base
    limits = [body[k] for k in ("max_tokens", "max_completion_tokens") if isinstance(body.get(k), int)]
    if limits:
        comp = min(comp, min(limits))
    n = body.get("n") if isinstance(body.get("n"), int) else 1
    return max(prompt, 1), max(comp, 1) * n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    server = MockServer(latency_ms=args.latency_ms, port=args.port, record=True)
    print(f"batch server listening on {server.base_url}", flush=True)
    try:
        for line in sys.stdin:
            cmd = line.strip().split(" ", 1)
            if cmd[0] == "quit":
                break
            if cmd[0] == "dump" and len(cmd) == 2:
                log = server.requests()
                server.reset()
                rows = []
                other = 0
                for r in log:
                    if r["path"].endswith("/chat/completions"):
                        p, c = tokens_of(r["json"])
                        body = r["json"] if isinstance(r["json"], dict) else {}
                        last = ""
                        for m in body.get("messages") or []:
                            if isinstance(m, dict) and m.get("role") == "user":
                                last = _content_text(m.get("content"))
                        rows.append([r["received_at"], p, c, last])
                    else:
                        other += 1
                del log
                rows.sort()
                with open(cmd[1], "w") as f:
                    json.dump({"rows": rows, "other": other}, f)
                print(f"ok {len(rows)}", flush=True)
            elif cmd[0] == "faults" and len(cmd) == 2:
                k, ra = cmd[1].split()
                fault: dict[str, Any] = {"status": 429}
                if float(ra) > 0:  # 0: a 429 without any Retry-After header
                    fault["retry_after"] = float(ra)
                server.push_faults([fault] * int(k))
                print(f"ok {k}", flush=True)
            else:
                print(f"error unknown command {line.strip()!r}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
