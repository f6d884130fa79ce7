"""Command line entry point: ``python -m liter_llm.testing serve --port 8000``.

Starts the built-in mock LLM provider, prints
``liter_llm mock server listening on http://HOST:PORT/v1`` once it accepts connections and
serves until SIGINT or SIGTERM. The options are those of ``liter-llm mock-server`` (both commands
share :mod:`liter_llm.testing._serve`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from liter_llm.testing import _serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m liter_llm.testing",
        description="liter_llm testing tools: an OpenAI-compatible mock LLM server.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    serve = commands.add_parser(
        "serve", help="run the mock LLM server until interrupted", description=_serve.DESCRIPTION
    )
    _serve.add_arguments(serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _serve.run(args)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
