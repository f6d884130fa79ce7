"""Command line entry point: ``python -m liter_llm.testing serve --port 8000``.

Starts the built-in mock LLM provider, prints
``liter_llm mock server listening on http://HOST:PORT/v1`` once it accepts connections and
serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from liter_llm import _argtypes
from liter_llm._liter_llm import serve_mock


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m liter_llm.testing",
        description="liter_llm testing tools: an OpenAI-compatible mock LLM server.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    serve = commands.add_parser(
        "serve",
        help="run the mock LLM server until interrupted",
        description="Run the OpenAI-compatible mock LLM server until SIGINT/SIGTERM.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=_argtypes.port, default=8000, help="port to bind, 0 picks a free one (default: 8000)"
    )
    serve.add_argument(
        "--latency-ms",
        type=_argtypes.milliseconds,
        default=0.0,
        help="delay before response headers (default: 0)",
    )
    serve.add_argument(
        "--chunk-delay-ms",
        type=_argtypes.milliseconds,
        default=0.0,
        help="delay between stream chunks (default: 0)",
    )
    serve.add_argument(
        "--stream-chunks",
        type=_argtypes.positive_int,
        default=None,
        help="split streamed replies into exactly N chunks (default: one chunk per word)",
    )
    serve.add_argument("--reply", default=None, help="fixed reply text (default: echo the last user message)")
    serve.add_argument("--no-record", action="store_true", help="do not keep a request log")
    return parser


def _announce(base_url: str) -> None:
    print(f"liter_llm mock server listening on {base_url}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM stops the server like Ctrl-C does, so both exit cleanly.
    signal.signal(signal.SIGTERM, _argtypes.raise_interrupt)
    try:
        serve_mock(
            host=args.host,
            port=args.port,
            reply=args.reply,
            latency_ms=args.latency_ms,
            chunk_delay_ms=args.chunk_delay_ms,
            stream_chunks=args.stream_chunks,
            record=not args.no_record,
            ready=_announce,
        )
    except KeyboardInterrupt:
        print("liter_llm mock server stopped", file=sys.stderr, flush=True)
        return 0
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
