"""The mock-server command line, shared by ``liter-llm mock-server`` and
``python -m liter_llm.testing serve``: one set of options, one run function.

Serving prints ``liter_llm mock server listening on http://HOST:PORT/v1`` once the server accepts
connections and goes on until SIGINT (Ctrl-C) or SIGTERM, then prints
``liter_llm mock server stopped`` to stderr and returns 0.
"""

from __future__ import annotations

import argparse
import signal
import sys

from liter_llm import _argtypes

DESCRIPTION = (
    "Serve the OpenAI-compatible mock LLM provider (chat completions, streaming, embeddings, faults) "
    "until SIGINT (Ctrl-C) or SIGTERM."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the mock server's options to ``parser`` (a subcommand parser of either entry point)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=_argtypes.port, default=8000, help="port to bind, 0 picks a free one (default: 8000)"
    )
    parser.add_argument(
        "--latency-ms",
        type=_argtypes.milliseconds,
        default=0.0,
        help="delay before response headers (default: 0)",
    )
    parser.add_argument(
        "--chunk-delay-ms",
        type=_argtypes.milliseconds,
        default=0.0,
        help="delay between stream chunks (default: 0)",
    )
    parser.add_argument(
        "--stream-chunks",
        type=_argtypes.positive_int,
        default=None,
        help="split streamed replies into exactly N chunks (default: one chunk per word)",
    )
    parser.add_argument("--reply", default=None, help="fixed reply text (default: echo the last user message)")
    parser.add_argument(
        "--max-embedding-inputs",
        type=_argtypes.positive_int,
        default=2048,
        help="inputs allowed per embeddings request (default: 2048)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not keep a request log")


def _announce(base_url: str) -> None:
    print(f"liter_llm mock server listening on {base_url}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Serves until SIGINT or SIGTERM (both end it cleanly, exit status 0).

    OSError (address in use ...) and ValueError propagate: each entry point reports them its way.
    """
    from liter_llm.testing import serve

    # SIGTERM stops the server like Ctrl-C does. SIGINT gets its default Python handler back: a
    # shell starting the server as a background job (``... &``) makes it ignore SIGINT, and the
    # documented way to stop it (``kill -INT``) would then do nothing.
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _argtypes.raise_interrupt)
    try:
        serve(
            host=args.host,
            port=args.port,
            reply=args.reply,
            latency_ms=args.latency_ms,
            chunk_delay_ms=args.chunk_delay_ms,
            stream_chunks=args.stream_chunks,
            record=not args.no_record,
            ready=_announce,
            max_embedding_inputs=args.max_embedding_inputs,
        )
    except KeyboardInterrupt:
        print("liter_llm mock server stopped", file=sys.stderr, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    return 0
