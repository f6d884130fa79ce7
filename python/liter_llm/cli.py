"""The ``liter-llm`` command line: resumable batch runs, quick chats and the mock provider.

Commands::

    liter-llm batch INPUT.jsonl -o OUTPUT.jsonl [--model M] [--mock] [--rpm N] [--tpm N] [--concurrency N]
        [--rate-limit-backend redis://HOST:PORT/DB [--rate-limit-name NAME]] ...
    liter-llm chat "prompt" [--model M] [--stream] [--mock]
    liter-llm mock-server [--port N] [--latency-ms MS] ...

``batch`` reads requests in the OpenAI Batch API input format (``{"custom_id", "method", "url",
"body"}`` per line) or bare Chat Completions bodies (their custom_id is their line number), sends
them concurrently (all scheduling in Rust, results taken with ``chat_as_completed``) and appends
one line per result to OUTPUT in the Batch API output format, flushed as soon as it arrives.
Re-running skips the custom_ids already in OUTPUT, so an interrupted run (Ctrl-C, crash, kill)
resumes where it stopped; a partial last line left by a crash is cut off first.

With ``--provider-batch`` the requests go through the provider's batch API instead (OpenAI
Batch, Anthropic Message Batches; half price, results within 24 h): the job is saved in
``OUTPUT.batch-job.json`` (plus ``OUTPUT.batch-job.ids.json``, its custom_ids) before anything
is sent, the run waits for it and writes the results in the same format. Interrupting the
wait and re-running goes on with the same job: nothing is submitted twice.

Exit status: 0 when every request succeeded, 1 when some failed (their errors are in OUTPUT),
2 for bad arguments or input, 130 when interrupted.

The API key is read from the environment variable named by ``--api-key-env`` (default
``OPENAI_API_KEY``) and is never printed.
"""

from __future__ import annotations

import argparse
import codecs
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from liter_llm import _argtypes
from liter_llm.testing import _serve

CHAT_URLS = ("/v1/chat/completions", "/chat/completions")
DEFAULT_MODEL = "gpt-4o-mini"
MOCK_LATENCY_MS = 300.0
_POSITION = re.compile(r"^requests\[(\d+)\]: ")


def asyncio_run(main: Any) -> Any:
    """``asyncio.run``, imported on first use: ``serve`` never needs asyncio (nor the ssl
    module it loads, several MB of resident memory)."""
    import asyncio

    return asyncio.run(main)


class UsageError(Exception):
    """A problem with the arguments or the input file (exit status 2)."""


# --------------------------------------------------------------------------------------------
# argument types
# --------------------------------------------------------------------------------------------


def _add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default=None, help="provider base URL (default: https://api.openai.com/v1)")
    parser.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="environment variable holding the API key (default: OPENAI_API_KEY)",
    )
    parser.add_argument(
        "--max-retries", type=_argtypes.non_negative_int, default=3, help="retries per request (default: 3)"
    )
    parser.add_argument("--timeout", type=_argtypes.seconds, default=60.0, help="seconds per request (default: 60)")
    parser.add_argument(
        "--total-timeout",
        type=_argtypes.seconds,
        default=None,
        help="seconds a whole request may take, retries and body included (default: none)",
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="a LiteLLM config.yaml: requests for its model groups are routed over its deployments",
    )
    parser.add_argument(
        "--cache",
        default=None,
        metavar="URL",
        help="response cache: memory, sqlite:///path/cache.db or redis://host:port/db (a re-run pays only for "
        "new or changed requests)",
    )
    parser.add_argument(
        "--mock", action="store_true", help="run against the built-in mock provider (no key, no network)"
    )
    parser.add_argument(
        "--mock-latency-ms",
        type=_argtypes.milliseconds,
        default=MOCK_LATENCY_MS,
        metavar="MS",
        help=f"latency of the mock provider (default: {MOCK_LATENCY_MS:g})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liter-llm",
        description="liter_llm command line: resumable batch runs, quick chats and a mock LLM provider.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    batch = commands.add_parser(
        "batch",
        help="run a JSONL file of chat requests, resumably",
        description="Send every request of INPUT (OpenAI Batch API lines or bare chat bodies) and append each "
        "result to OUTPUT as soon as it arrives. Re-running skips custom_ids already in OUTPUT.",
    )
    batch.add_argument("input", metavar="INPUT.jsonl", help="requests, one JSON object per line")
    batch.add_argument("-o", "--output", required=True, metavar="OUTPUT.jsonl", help="results file (appended to)")
    batch.add_argument("--model", default=None, help="model for every request (fills or overrides the body's)")
    _add_connection_args(batch)
    batch.add_argument("--rpm", type=_argtypes.positive_int, default=None, help="max requests per minute")
    batch.add_argument("--tpm", type=_argtypes.positive_int, default=None, help="max tokens per minute")
    batch.add_argument(
        "--concurrency", type=_argtypes.positive_int, default=None, help="max requests in flight (default: 64)"
    )
    batch.add_argument(
        "--rate-limit-backend",
        default=None,
        metavar="URL",
        help="redis://host:port/db: share --rpm/--tpm/--concurrency with every process using the same URL and name",
    )
    batch.add_argument(
        "--rate-limit-name",
        default="liter-llm",
        metavar="NAME",
        help="the shared budget's name with --rate-limit-backend (default: liter-llm)",
    )
    batch.add_argument(
        "--retry-failed",
        action="store_true",
        help="re-send requests whose earlier result in OUTPUT is an error (the newest line of a custom_id wins)",
    )
    batch.add_argument("--no-progress", action="store_true", help="no progress bar or progress log lines")
    batch.add_argument(
        "--provider-batch",
        action="store_true",
        help="send the requests through the provider's batch API at its batch price (OpenAI Batch, Anthropic "
        "Message Batches); the job is kept in OUTPUT.batch-job.json, so a re-run goes on waiting for it",
    )
    batch.add_argument(
        "--poll-interval",
        type=_argtypes.seconds,
        default=None,
        metavar="SECONDS",
        help="with --provider-batch: seconds between polls (default: 30; 0.1 with --mock)",
    )

    chat = commands.add_parser("chat", help="send one chat message", description="Send one chat message.")
    chat.add_argument("prompt", help="the user message ('-' reads it from stdin)")
    chat.add_argument("--model", default=DEFAULT_MODEL, help=f"model (default: {DEFAULT_MODEL})")
    chat.add_argument("--system", default=None, help="system message")
    chat.add_argument("--max-tokens", type=_argtypes.positive_int, default=None, help="max tokens to generate")
    chat.add_argument("--temperature", type=_argtypes.non_negative_float, default=None, help="sampling temperature")
    chat.add_argument("--stream", action="store_true", help="print the reply as it streams")
    _add_connection_args(chat)

    serve = commands.add_parser(
        "serve",
        help="run the OpenAI-compatible proxy server",
        description="Serve the OpenAI API (chat completions, streamed or not, embeddings, audio, files, batches, "
        "models...) and Anthropic's /v1/messages in front of the model groups of a LiteLLM config, or of one "
        "provider, with virtual keys (/key/*), budgets, per-key limits, Prometheus /metrics and a JSON access log. "
        "Stops on SIGINT/SIGTERM after the requests in flight finish.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=_argtypes.port, default=4000, help="port to bind (default: 4000; 0 picks one)")
    serve.add_argument(
        "--master-key",
        default=None,
        metavar="KEY",
        help="the bearer key every request must carry (default: $LITELLM_MASTER_KEY, else the config's "
        "general_settings.master_key; none: no auth)",
    )
    serve.add_argument(
        "--access-log",
        default=None,
        metavar="WHERE",
        help="one JSON line per request to 'stdout' (default), a file path, or 'off' "
        "(default: the config's general_settings.access_log)",
    )
    serve.add_argument(
        "--grace-period",
        type=_argtypes.non_negative_float,
        default=30.0,
        metavar="SECONDS",
        help="after SIGINT/SIGTERM, how long requests in flight may take to finish (default: 30)",
    )
    _add_connection_args(serve)

    mock = commands.add_parser(
        "mock-server",
        help="serve the built-in mock provider",
        description=_serve.DESCRIPTION,
    )
    _serve.add_arguments(mock)
    return parser


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------


def _eprint(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _setup_logging(level: int = logging.INFO) -> None:
    """Shows liter_llm's records from ``level`` on: INFO for progress lines (when stderr is not a
    terminal) and retries; WARNING for the server (its store and Redis outages, a full access log)."""
    logger = logging.getLogger("liter_llm")
    if not any(getattr(h, "_liter_llm_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._liter_llm_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def _make_client(args: argparse.Namespace, base_url: str | None, mock: bool) -> Any:
    from liter_llm import LlmClient

    config = getattr(args, "config", None)
    if config is not None:
        return _routed_client(args, config, mock)
    if mock:
        api_key = "sk-mock"
    else:
        api_key = os.environ.get(args.api_key_env, "")
        if not api_key and base_url is None:
            raise UsageError(f"no API key: set {args.api_key_env} (or --api-key-env VAR), or use --mock")
    kwargs: dict[str, Any] = {
        "api_key": api_key,
        "base_url": base_url,
        "max_retries": args.max_retries,
        "timeout": args.timeout,
    }
    if args.total_timeout is not None:
        kwargs["total_timeout"] = args.total_timeout
    if args.cache is not None:
        kwargs["cache"] = args.cache
    return LlmClient(**kwargs, **_limits(args))


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    """The rate-limit arguments given on the command line."""
    limits = {
        "max_requests_per_minute": getattr(args, "rpm", None),
        "max_tokens_per_minute": getattr(args, "tpm", None),
        "max_concurrency": getattr(args, "concurrency", None),
    }
    given = {k: v for k, v in limits.items() if v is not None}
    backend = getattr(args, "rate_limit_backend", None)
    if backend is not None:
        if not given:
            raise UsageError("--rate-limit-backend shares limits: give --rpm, --tpm or --concurrency too")
        given["rate_limit_backend"] = backend
        given["rate_limit_name"] = args.rate_limit_name
    return given


def _routed_client(args: argparse.Namespace, config: str, mock: bool) -> Any:
    """A client routing the model groups of a LiteLLM config; keys come from the config."""
    from liter_llm import LlmClient

    if mock:
        raise UsageError("--config and --mock cannot be combined: point the config's api_base at a mock server")
    kwargs: dict[str, Any] = {"max_retries": args.max_retries, "timeout": args.timeout}
    if args.total_timeout is not None:
        kwargs["total_timeout"] = args.total_timeout
    if args.base_url is not None:
        kwargs["base_url"] = args.base_url
        kwargs["api_key"] = os.environ.get(args.api_key_env, "")
    if args.cache is not None:
        kwargs["cache"] = args.cache
    return LlmClient.from_config(config, **kwargs, **_limits(args))


class _MockContext:
    """Starts the built-in mock provider when ``--mock`` is given."""

    def __init__(self, enabled: bool, latency_ms: float) -> None:
        self.enabled = enabled
        self.latency_ms = latency_ms
        self.server: Any = None

    def __enter__(self) -> str | None:
        if not self.enabled:
            return None
        from liter_llm.testing import MockServer

        self.server = MockServer(latency_ms=self.latency_ms, record=False)
        return str(self.server.base_url)

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.close()


# --------------------------------------------------------------------------------------------
# batch
# --------------------------------------------------------------------------------------------


@dataclass
class Item:
    """One request of the input file."""

    custom_id: str
    line: int
    body: Any
    url: str = "/v1/chat/completions"


@dataclass
class Tally:
    """What the run did, for the summary."""

    total: int = 0
    skipped: int = 0
    sent: int = 0
    ok: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stats: dict[str, Any] = field(default_factory=dict)


def _lines(path: str, handle: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(1-based number, text) of each line of a UTF-8 file; UsageError naming the line and byte
    offset of anything undecodable. A UTF-8 BOM at the start (Windows editors) is skipped; CRLF
    line ends are fine (JSON ignores the CR)."""
    offset = 0
    for number, raw in enumerate(handle, start=1):
        start = 0
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            start = len(codecs.BOM_UTF8)
        try:
            text = raw[start:].decode("utf-8")
        except UnicodeDecodeError as exc:
            at = offset + start + exc.start
            raise UsageError(
                f"{path}:{number}: not valid UTF-8 (byte 0x{raw[start + exc.start]:02x} at offset {at} of the file)"
            ) from None
        offset += len(raw)
        yield number, text


def read_input(path: str, model: str | None) -> list[Item]:
    """Parses INPUT: Batch API lines or bare chat bodies; raises UsageError naming the line."""
    items: list[Item] = []
    seen: set[str] = set()
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        for number, text in _lines(path, handle):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except ValueError as exc:
                raise UsageError(f"{path}:{number}: not valid JSON ({exc})") from None
            if not isinstance(obj, dict):
                raise UsageError(f"{path}:{number}: expected a JSON object")
            if "body" in obj and ("custom_id" in obj or "url" in obj or "method" in obj):
                body = obj["body"]
                custom_id = obj.get("custom_id")
                custom_id = str(number) if custom_id is None else str(custom_id)
                url = str(obj.get("url") or "/v1/chat/completions")
                method = str(obj.get("method") or "POST").upper()
                if method != "POST":
                    raise UsageError(f"{path}:{number}: method {method} is not supported (only POST)")
            else:
                body, custom_id, url = obj, str(number), "/v1/chat/completions"
            if not isinstance(body, dict):
                raise UsageError(f"{path}:{number}: the request body must be a JSON object")
            if custom_id in seen:
                raise UsageError(f"{path}:{number}: duplicate custom_id {custom_id!r}")
            seen.add(custom_id)
            if model is not None:
                body = dict(body, model=model)
            items.append(Item(custom_id=custom_id, line=number, body=body, url=url))
    return items


def _last_good_offset(data: bytes) -> int:
    """Length of the file's complete lines: a crash can leave a partial last line."""
    if not data or data.endswith(b"\n"):
        return len(data)
    return data.rfind(b"\n") + 1


def read_done(path: str, retry_failed: bool) -> set[str]:
    """custom_ids already answered in OUTPUT; cuts off a partial last line left by a crash."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    good = _last_good_offset(data)
    if good < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(good)
        _eprint(f"note: removed a partial last line from {path} (left by an interrupted run)")
    done: set[str] = set()
    for text in data[:good].splitlines():
        try:
            record = json.loads(text)
        except ValueError:
            continue
        if not isinstance(record, dict) or "custom_id" not in record:
            continue
        failed = record.get("error") is not None or (record.get("response") or {}).get("status_code") != 200
        if failed and retry_failed:
            done.discard(str(record["custom_id"]))
        else:
            done.add(str(record["custom_id"]))
    return done


def _error_code(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("code"):
            return str(error["code"])
        if isinstance(error, dict) and error.get("type"):
            return str(error["type"])
    return type(exc).__name__


def make_record(custom_id: str, result: Any) -> dict[str, Any]:
    """A Batch API output line for one result (a response or an exception)."""
    record: dict[str, Any] = {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id}
    if isinstance(result, BaseException):
        status = getattr(result, "status_code", None)
        if status is not None:
            record["response"] = {
                "status_code": status,
                "request_id": getattr(result, "request_id", None),
                "body": getattr(result, "body", None),
            }
        else:
            record["response"] = None
        record["error"] = {"code": _error_code(result), "message": str(result)}
    else:
        record["response"] = {
            "status_code": 200,
            "request_id": getattr(result, "request_id", None),
            "body": result.to_dict(),
        }
        record["error"] = None
    return record


def _write(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    out.flush()


def _count(tally: Tally, result: Any) -> None:
    if isinstance(result, BaseException):
        tally.failed += 1
        return
    tally.ok += 1
    usage = getattr(result, "usage", None)
    if usage is not None:
        tally.prompt_tokens += usage.prompt_tokens
        tally.completion_tokens += usage.completion_tokens


def _reject(exc: BaseException, pending: list[Item], out: IO[str], tally: Tally) -> bool:
    """Records the request a ``requests[i]: ...`` error names as failed and drops it from
    ``pending``; False when the error names no request."""
    match = _POSITION.match(str(exc))
    if match is None or int(match.group(1)) >= len(pending):
        return False
    bad = pending.pop(int(match.group(1)))
    record = {
        "id": f"batch_req_{uuid.uuid4().hex}",
        "custom_id": bad.custom_id,
        "response": None,
        "error": {"code": "invalid_request", "message": str(exc)[match.end() :]},
    }
    _write(out, record)
    tally.failed += 1
    return True


async def _run_items(client: Any, items: list[Item], out: IO[str], args: argparse.Namespace, tally: Tally) -> None:
    pending = list(items)
    while pending:
        try:
            iterator = client.chat_as_completed(
                [item.body for item in pending],
                max_concurrency=args.concurrency,
                progress=False if args.no_progress else "batch",
            )
        except (ValueError, TypeError) as exc:
            # A body the client rejects before sending: record it as failed and start again.
            if not _reject(exc, pending, out, tally):
                raise
            continue
        try:
            async for index, result in iterator:
                _write(out, make_record(pending[index].custom_id, result))
                tally.sent += 1
                _count(tally, result)
        finally:
            tally.stats = iterator.stats()
            iterator.cancel()
        return


def _percentile(client: Any, stats: dict[str, Any], p: int) -> float | None:
    usage = getattr(client, "usage", None)
    for name in ("latency_at_percentile", "response_time_at_percentile"):
        method = getattr(usage, name, None)
        if callable(method):
            try:
                value = method(p)
            except Exception:  # noqa: BLE001 - the tracker is optional; fall back to our own numbers
                break
            if value is not None:
                return float(value)
    value = stats.get(f"latency_p{p}")
    return None if value is None else float(value)


def _cost(client: Any, stats: dict[str, Any]) -> float | None:
    usage = getattr(client, "usage", None)
    cost = getattr(usage, "total_cost", None)
    if isinstance(cost, (int, float)) and cost > 0:
        return float(cost)
    value = stats.get("cost")
    return None if value is None else float(value)


def summary(client: Any, tally: Tally, wall: float, interrupted: bool) -> str:
    """The final report: calls, failures, tokens, cost, latency percentiles."""
    head = "interrupted" if interrupted else "done"
    parts = [
        f"liter-llm batch {head}: {tally.ok + tally.failed} of {tally.total - tally.skipped} requests done",
        f"{tally.ok} ok, {tally.failed} failed",
    ]
    if tally.skipped:
        parts.append(f"{tally.skipped} skipped (already in output)")
    tokens = tally.prompt_tokens + tally.completion_tokens
    parts.append(f"{tokens:,} tokens ({tally.prompt_tokens:,} prompt + {tally.completion_tokens:,} completion)")
    cost = _cost(client, tally.stats)
    parts.append(f"cost ${cost:.4f}" if cost is not None else "cost unknown")
    hits = getattr(client.usage, "cache_hits", 0) if client is not None else 0
    if hits:
        parts.append(f"{hits} from cache (saved ${client.usage.cache_saved_cost:.4f})")
    latencies = [(p, _percentile(client, tally.stats, p)) for p in (50, 95, 99)]
    if all(v is not None for _, v in latencies):
        parts.append("latency " + " ".join(f"p{p} {v:.2f}s" for p, v in latencies))
    parts.append(f"{wall:.1f}s")
    lines = [" | ".join(parts)]
    per_deployment = client.usage.per_deployment if client is not None else {}
    for deployment, stats in per_deployment.items():
        lines.append(f"  deployment {deployment}: {stats['calls']} calls, {stats['failures']} failed")
    return "\n".join(lines)


def _same_file(a: str, b: str) -> bool:
    """Whether paths a and b name one file (same device and inode: catches ./x vs x, absolute vs
    relative, symlinks and hard links). A path that does not exist is no file."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _job_files(output: str) -> tuple[str, str]:
    """The provider batch job's manifest beside OUTPUT, and the custom_ids of its requests."""
    return output + ".batch-job.json", output + ".batch-job.ids.json"


async def _run_provider_batch(
    client: Any, items: list[Item], todo: list[Item], out: IO[str], args: argparse.Namespace, tally: Tally
) -> None:
    """Submits ``todo`` as a provider batch job (or goes on with the one saved beside OUTPUT),
    waits for it and writes its results."""
    manifest, ids_path = _job_files(args.output)
    by_id = {item.custom_id: item for item in items}
    if os.path.exists(manifest) and os.path.exists(ids_path):
        with open(ids_path, encoding="utf-8") as handle:
            ids = [str(i) for i in json.load(handle)]
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise UsageError(f"{manifest}: custom_id {missing[0]!r} of the saved job is no longer in {args.input}")
        try:
            job = client.load_batch_job(manifest, requests=[by_id[i].body for i in ids])
        except ValueError as exc:
            raise UsageError(f"cannot go on with the job in {manifest}: {exc} (remove it to start again)") from None
        _eprint(f"liter-llm batch: going on with provider batch job {job.id} ({job.status})")
        extra = len({item.custom_id for item in todo} - set(ids))
        if extra:
            _eprint(f"note: {extra} requests of {args.input} are not in that job; run again once it is done")
    else:
        pending = list(todo)
        while True:
            ids = [item.custom_id for item in pending]
            with open(ids_path, "w", encoding="utf-8") as handle:
                json.dump(ids, handle)
            try:
                job = await client.submit_batch_job([item.body for item in pending], manifest=manifest)
                break
            except (ValueError, TypeError) as exc:
                # A body the client rejects before sending: record it as failed and try again.
                if not _reject(exc, pending, out, tally):
                    os.remove(ids_path)
                    raise
                if not pending:
                    os.remove(ids_path)
                    return
        batches = len(job.batch_ids)
        _eprint(f"liter-llm batch: submitted provider batch job {job.id}: {job.total} requests, {batches} batches")
    poll = args.poll_interval if args.poll_interval is not None else (0.1 if args.mock else 30.0)
    await job.wait(poll_interval=poll, progress=False if args.no_progress else "provider batch")
    done = read_done(args.output, False)
    for custom_id, result in zip(ids, await job.results()):
        if custom_id in done:
            continue
        _write(out, make_record(custom_id, result))
        tally.sent += 1
        _count(tally, result)
    out.flush()
    os.fsync(out.fileno())
    for path in (manifest, ids_path):
        os.remove(path)


def run_batch(args: argparse.Namespace) -> int:
    # Before anything reads or truncates OUTPUT: appending results to the input would cut its last
    # line (as a partial line) and mix results into the requests.
    if _same_file(args.input, args.output):
        raise UsageError(f"the output file {args.output} is the input file {args.input}; choose another -o")
    items = read_input(args.input, args.model)
    done = read_done(args.output, args.retry_failed)
    todo = [item for item in items if item.custom_id not in done]
    tally = Tally(total=len(items), skipped=len(items) - len(todo))
    unsupported = [item for item in todo if item.url not in CHAT_URLS]
    todo = [item for item in todo if item.url in CHAT_URLS]
    if not todo and not unsupported:
        _eprint(f"liter-llm batch: nothing to do, all {len(items)} requests are already in {args.output}")
        return 0
    if not args.no_progress:
        _setup_logging()
    started = time.monotonic()
    interrupted = False
    client: Any = None
    with _MockContext(args.mock, args.mock_latency_ms) as mock_url:
        client = _make_client(args, mock_url or args.base_url, args.mock)
        out_dir = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(out_dir, exist_ok=True)
        with open(args.output, "a", encoding="utf-8") as out:
            for item in unsupported:
                record = {
                    "id": f"batch_req_{uuid.uuid4().hex}",
                    "custom_id": item.custom_id,
                    "response": None,
                    "error": {"code": "unsupported_url", "message": f"only chat completions are supported: {item.url}"},
                }
                _write(out, record)
                tally.failed += 1
            try:
                if todo and args.provider_batch:
                    asyncio_run(_run_provider_batch(client, items, todo, out, args, tally))
                elif todo:
                    asyncio_run(_run_items(client, todo, out, args, tally))
            except KeyboardInterrupt:
                interrupted = True
            finally:
                out.flush()
                try:
                    os.fsync(out.fileno())
                except OSError:
                    pass
    _eprint(summary(client, tally, time.monotonic() - started, interrupted))
    if interrupted:
        return 130
    return 1 if tally.failed else 0


# --------------------------------------------------------------------------------------------
# chat
# --------------------------------------------------------------------------------------------


async def _chat(client: Any, args: argparse.Namespace, prompt: str) -> None:
    messages: list[dict[str, str]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt})
    kwargs: dict[str, Any] = {"model": args.model, "messages": messages}
    if args.max_tokens is not None:
        kwargs["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        kwargs["temperature"] = args.temperature
    if args.stream:
        async with await client.chat_stream(**kwargs) as stream:
            async for chunk in stream:
                if chunk.choices:
                    sys.stdout.write(chunk.choices[0].delta.content or "")
                    sys.stdout.flush()
        sys.stdout.write("\n")
    else:
        response = await client.chat(**kwargs)
        print(response.choices[0].message.content or "")
    sys.stdout.flush()


def run_chat(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    with _MockContext(args.mock, min(args.mock_latency_ms, 50.0)) as mock_url:
        client = _make_client(args, mock_url or args.base_url, args.mock)
        try:
            asyncio_run(_chat(client, args, prompt))
        except KeyboardInterrupt:
            return 130
    return 0


# --------------------------------------------------------------------------------------------
# mock-server
# --------------------------------------------------------------------------------------------


def run_mock_server(args: argparse.Namespace) -> int:
    return _serve.run(args)


def run_serve(args: argparse.Namespace) -> int:
    """``liter-llm serve``: the proxy server, until SIGINT or SIGTERM."""
    from liter_llm._liter_llm import serve

    master_key = args.master_key if args.master_key is not None else os.environ.get("LITELLM_MASTER_KEY")
    _setup_logging(logging.WARNING)
    with _MockContext(args.mock, args.mock_latency_ms) as mock_url:
        with warnings.catch_warnings():
            # serve() names every setting it ignores in one warning, general_settings included.
            warnings.filterwarnings("ignore", message="liter_llm ignores these LiteLLM settings")
            client = _make_client(args, mock_url or args.base_url, args.mock)
        # The server handles SIGINT and SIGTERM itself (it drains the requests in flight first);
        # Python's own handlers would raise again once it has returned.
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            serve(
                client,
                host=args.host,
                port=args.port,
                master_key=master_key,
                config=args.config,
                access_log=args.access_log,
                grace_period=args.grace_period,
            )
        finally:
            signal.signal(signal.SIGINT, interrupt)
    _eprint("liter-llm serve: stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``liter-llm`` command."""
    args = build_parser().parse_args(argv)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _argtypes.raise_interrupt)
    try:
        if args.command == "batch":
            return run_batch(args)
        if args.command == "chat":
            return run_chat(args)
        if args.command == "serve":
            return run_serve(args)
        return run_mock_server(args)
    except UsageError as exc:
        _eprint(f"liter-llm: error: {exc}")
        return 2
    except (OSError, ValueError) as exc:
        _eprint(f"liter-llm: error: {exc}")
        return 1
    except Exception as exc:  # noqa: BLE001 - report provider errors as one line, not a traceback
        from liter_llm import LlmError

        if isinstance(exc, LlmError):
            _eprint(f"liter-llm: {type(exc).__name__}: {exc}")
            return 1
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
