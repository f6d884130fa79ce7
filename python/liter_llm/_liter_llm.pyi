"""Type stubs for the native module `liter_llm._liter_llm`."""

import builtins
import os
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, BinaryIO, Literal, final, overload

from typing_extensions import Self, TypeAlias

from liter_llm.agent import AgentResult, AgentRound

__version__: str

# What `transcribe(file=...)` and `create_file(file=...)` accept.
_FileInput: TypeAlias = (
    bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO | tuple[str, Any] | tuple[str, Any, str]
)

# ----- response objects -----

class _Model:
    """What every response object has (stub only: at runtime each class defines these itself)."""

    def to_dict(self) -> dict[str, Any]:
        """The object as a plain dict, including fields the provider added."""
    def to_json(self) -> str:
        """The object as a JSON string."""
    def __eq__(self, other: builtins.object, /) -> bool: ...
    def __ne__(self, other: builtins.object, /) -> bool: ...

# ----- client -----

@final
class LlmClient:
    """An immutable async LLM client; safe to share across tasks, threads and event loops.

    Args:
        api_key: API key of the client's own provider (the one `model_hint` names, else OpenAI or
            the server at `base_url`); never shown in repr, logs or errors, and never sent to another
            provider's host. Omitted: each provider's key is read from its environment variable
            (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`, ...) when the client is built.
        base_url: Override the provider base URL (default `https://api.openai.com/v1`). The host
            changes, the protocol does not: `anthropic/...` models still speak the Messages API.
            Requests to this host carry `api_key` (or the own provider's environment key), never
            another provider's environment key.
        model_hint: Hint for provider auto-detection (e.g. "groq/llama3-70b" or "claude-sonnet-4-5");
            it picks the own provider, the home of `api_key`.
        max_retries: Retries on 408/409/429/5xx and connection failures.
        timeout: Seconds allowed for connect, for the response headers and between stream reads.
        extra_headers: Headers added to every request.
        max_requests_per_minute: Requests per minute over all models (paced evenly).
        max_tokens_per_minute: Tokens per minute over all models: each request reserves its estimate
            (prompt plus max_tokens, or 256) and is reconciled with the response's usage.
        max_concurrency: Requests in flight at once (a stream counts until it ends or is closed).
        max_delay_seconds: Longest a request waits for the limits before raising RateLimitedError.
        rate_limits: Per-model limits, e.g. `{"gpt-4o-mini": {"rpm": 500, "tpm": 200_000, "max_concurrency": 20}}`.
        rate_limiter: A `RateLimiter` shared with other clients (instead of the limit arguments above).
        rate_limit_backend: A `redis://` URL sharing the limits above with every process (on any
            host) that uses the same URL and `rate_limit_name` (see `RateLimiter(backend=...)`).
        rate_limit_name: The shared budget's name; needed with `rate_limit_backend`.
        sanitize: Sanitise chat requests for their model: drop or rename parameters it rejects and
            drop the oldest non-system messages to fit its context window (logged at INFO).
        providers: Custom providers or overrides of built-in ones: dicts with `name` (also the model
            prefix), `base_url`, `auth_header` (or `auth_query`: the query parameter that carries
            the key, for servers that take nothing else), `model_prefixes` and `api_key_env`.
        api_version: Azure OpenAI `api-version` (default `AZURE_API_VERSION` or 2024-10-21).
        total_timeout: Seconds a whole call may take, from its first attempt to its last byte:
            retries, backoff, the body and a whole stream included (not the rate limiter's wait
            before the first attempt, which `max_delay_seconds` bounds). None (default): only
            `timeout` applies, so a long stream that keeps sending is never cut. Per call:
            `chat(..., total_timeout=)`, or `with_options(total_timeout=)`.
        max_response_bytes: Largest decoded body of an answer (128 MiB); past it the call raises
            `ResponseTooLargeError`. Compressed bodies count after decompression.
        max_download_bytes: Largest `file_content` / `speech` download (2 GiB).
        max_stream_event_bytes: Largest SSE line or event in a stream (16 MiB).
        max_error_body_bytes: How much of an error body is read and kept in `e.body` (64 KiB).
        model_list: LiteLLM deployments: `[{"model_name": group, "litellm_params": {"model", "api_key",
            "api_base", "api_version", "rpm", "tpm", "timeout", "max_retries", "weight", "order", ...},
            "model_info": {"id", ...}}]`. `model=<group>` then routes within the group; any other
            model goes as before. Values `"os.environ/NAME"` read the environment. Bad values and
            unknown keys raise `ValueError` naming their path; LiteLLM keys liter_llm ignores are
            named in one `UserWarning`.
        router_settings: LiteLLM router settings: `routing_strategy` (`simple-shuffle`, `least-busy`,
            `latency-based-routing`, `usage-based-routing`, `order`), `num_retries` (default
            `max_retries`), `allowed_fails`, `cooldown_time`, `retry_after`, `fallbacks`,
            `default_fallbacks`, `context_window_fallbacks`, `content_policy_fallbacks`, `timeout`.
        callbacks: Objects with `on_success(event)` / `on_failure(event)` (sync or async), or callables
            getting every event: called once per call with a `CallEvent`, on the caller's event loop.
            A raising callback is logged, never propagated.
        tracer: An OpenTelemetry tracer (or True for the global one): each call becomes a span with
            the GenAI semantic conventions, with a child span per attempt.
        cache: A response cache for chat, streams and embeddings: `"memory"` (or True),
            `"sqlite:///path/to/cache.db"`, `"redis://host:port/db"`, or a `Cache` (to set `ttl`,
            `max_bytes`, `namespace`, or to share one cache between clients). Per call:
            `cache={"no-cache": True, "no-store": True, "ttl": 600, "s-maxage": 60, "namespace": "x"}`,
            or `cache=False` to bypass it. A backend that is down or corrupt never fails a call.
    """

    def __new__(
        cls,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model_hint: str | None = None,
        max_retries: int = 3,
        timeout: float = 60.0,
        extra_headers: dict[str, str] | None = None,
        max_requests_per_minute: int | None = None,
        max_tokens_per_minute: int | None = None,
        max_concurrency: int | None = None,
        max_delay_seconds: float = 300.0,
        rate_limits: dict[str, dict[str, int]] | None = None,
        rate_limiter: RateLimiter | None = None,
        sanitize: bool = False,
        providers: Sequence[dict[str, Any]] | None = None,
        api_version: str | None = None,
        total_timeout: float | None = None,
        max_response_bytes: int = 134217728,
        max_download_bytes: int = 2147483648,
        max_stream_event_bytes: int = 16777216,
        max_error_body_bytes: int = 65536,
        model_list: Sequence[dict[str, Any]] | None = None,
        router_settings: dict[str, Any] | None = None,
        callbacks: Sequence[Any] | None = None,
        tracer: Any = None,
        cache: str | bool | Cache | None = None,
        rate_limit_backend: str | None = None,
        rate_limit_name: str | None = None,
    ) -> LlmClient: ...
    @classmethod
    def from_config(cls, config: str | os.PathLike[str] | dict[str, Any], **kwargs: Any) -> LlmClient:
        """A client routing the model groups of a LiteLLM proxy `config.yaml`.

        `config` is a dict or the path of a YAML or JSON file: `model_list`, `router_settings` and
        the router keys of `litellm_settings` are used, `environment_variables` feed `os.environ/`
        values, other sections are accepted and ignored. `kwargs` are any other `LlmClient`
        arguments (`callbacks`, `max_retries`, ...).
        """
    @property
    def deployments(self) -> list[dict[str, Any]]:
        """Every deployment of the model groups: `id`, `group`, `model`, `api_base` (credentials
        masked), `weight`, `order`, `rpm`, `tpm`, `in_flight`, `latency` (moving average in seconds)
        and `cooling_down` (seconds left, or None)."""
    @property
    def callbacks(self) -> tuple[Any, ...] | None:
        """The callbacks given at construction, or None."""
    @property
    def cache(self) -> Cache | None:
        """The response cache (shared by copies from `with_options`), or None."""
    @staticmethod
    def register_provider(config: dict[str, Any]) -> None:
        """Registers a custom provider (same keys as `providers=`) for every client built afterwards.

        Process-wide: registering a built-in name (e.g. `openai`) moves that provider's host for
        every later client in the process.

        Raises:
            ValueError: a model prefix already routed elsewhere, or a new provider without base_url.
        """
    @property
    def base_url(self) -> str:
        """The base URL requests go to (any `user:password@` shown as `***@`)."""
    @property
    def model_hint(self) -> str | None:
        """The provider hint given at construction."""
    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
    @property
    def timeout(self) -> float:
        """Timeout in seconds."""
    @property
    def total_timeout(self) -> float | None:
        """Seconds a whole call may take (retries, backoff, body and stream included), or None."""
    @property
    def limits(self) -> dict[str, int]:
        """The size limits: max_response_bytes, max_download_bytes, max_stream_event_bytes, max_error_body_bytes."""
    @property
    def usage(self) -> UsageTracker:
        """Usage and cost of every call made through this client (and its `with_options` copies)."""
    @property
    def sanitize(self) -> bool:
        """Whether chat requests are sanitised for their model by default (per call: `sanitize=`)."""
    @property
    def rate_limiter(self) -> RateLimiter | None:
        """The client's rate limiter (shared by copies from `with_options`), or None."""
    def with_options(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model_hint: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        extra_headers: dict[str, str] | None = None,
        total_timeout: float | None = None,
        max_response_bytes: int | None = None,
        max_download_bytes: int | None = None,
        max_stream_event_bytes: int | None = None,
        max_error_body_bytes: int | None = None,
        cache: str | bool | Cache | None = None,
    ) -> LlmClient:
        """A new client with some settings replaced; the rest are copied from this one
        (`cache=False` drops the cache)."""
    async def chat(self, **kwargs: Any) -> ChatCompletionResponse:
        """Send a chat completion request.

        Accepts the OpenAI Chat Completions parameters (model, messages, temperature, max_tokens, tools, ...).
        Known parameters are type-checked before sending; `None` values are omitted; unknown ones pass
        through; `extra_body` is merged into the body and `extra_headers` added to this request.

        `response_format` may be `{"type": "json_object"}`, `{"type": "json_schema", "json_schema": {...}}`
        or a pydantic model class / TypedDict (sent as a strict `json_schema` named after the class).
        When a schema was given, `choices[i].message.parsed` holds the parsed answer.
        A list `content` is checked part by part (`text`, `image_url`, `input_audio` and `file` parts
        must carry their payload; other types pass through).
        `total_timeout=` (seconds) bounds this call, overriding the client's.
        `session=` (str, not sent) keeps a conversation on one deployment of a routed group while
        it is healthy; `metadata=` (OpenAI's parameter, sent as given) is also handed to callbacks.
        """
    async def chat_stream(self, **kwargs: Any) -> ChatStreamIterator:
        """Start a streaming chat completion; resolves once the response headers arrived (for a
        routed group, once the first chunk did: a deployment failing before it is failed over).

        `total_timeout=` (seconds) bounds the whole stream, from the request to its last chunk.
        """

    @overload
    async def chat_batch(
        self,
        requests: Iterable[dict[str, Any]],
        *,
        max_concurrency: int | None = None,
        return_exceptions: Literal[False],
        progress: bool | str | None = None,
    ) -> list[ChatCompletionResponse]: ...
    @overload
    async def chat_batch(
        self,
        requests: Iterable[dict[str, Any]],
        *,
        max_concurrency: int | None = None,
        return_exceptions: bool = True,
        progress: bool | str | None = None,
    ) -> list[ChatCompletionResponse | LlmError]:
        """Send many chat completions; resolves to the results in input order.

        Each request is a dict of `chat()` keyword arguments. All of them are validated and
        serialised before anything is sent: a bad one raises `ValueError`/`TypeError` whose message
        starts with `requests[i]: `. The batch then runs in Rust: `max_concurrency` workers (default
        64) take the next request as soon as they are free; each request gets the client's retries
        (and its rate limits). Cancelling the awaiting task aborts the requests in flight.

        Args:
            requests: Request dicts (a list, tuple or any iterable of dicts).
            max_concurrency: Requests in flight at most (default 64).
            return_exceptions: True: a failed request's slot holds its exception (an `LlmError`
                subclass instance). False: the first failure is raised and the rest is cancelled.
            progress: True draws a progress bar on stderr when it is a terminal, else logs a line on
                the `liter_llm` logger every 10 s and at the end (INFO). A str does the same under
                that label.
        """
    @overload
    def chat_batch_sync(
        self,
        requests: Iterable[dict[str, Any]],
        *,
        max_concurrency: int | None = None,
        return_exceptions: Literal[False],
        progress: bool | str | None = None,
    ) -> list[ChatCompletionResponse]: ...
    @overload
    def chat_batch_sync(
        self,
        requests: Iterable[dict[str, Any]],
        *,
        max_concurrency: int | None = None,
        return_exceptions: bool = True,
        progress: bool | str | None = None,
    ) -> list[ChatCompletionResponse | LlmError]:
        """`chat_batch` for synchronous code: blocks until every request finished.

        Needs no event loop and works from any thread. The GIL is released while waiting; every
        100 ms the call wakes to run signal handlers, so Ctrl-C aborts the requests in flight and
        raises `KeyboardInterrupt`.
        """
    async def run_agent_loop(
        self,
        *,
        messages: Sequence[dict[str, Any]],
        tools: Iterable[Any],
        model: str | None = None,
        max_rounds: int = 10,
        tool_timeout: float | None = None,
        tool_errors: Literal["message", "raise"] = "message",
        on_round: Callable[[AgentRound], Any] | None = None,
        on_delta: Callable[[str], Any] | None = None,
        **kwargs: Any,
    ) -> AgentResult:
        """Run a tool-calling loop: call the model, run the tools it asks for, give it their
        results, and repeat until it answers without tool calls or `max_rounds` calls were made.

        `tools` are functions (described by `function_tool`), `liter_llm.agent.Tool` objects, or
        `(definition, callable)` pairs; sync ones run in a worker thread, async ones are awaited,
        and the calls of one round run concurrently. A tool that raises, passes `tool_timeout`
        (seconds; a `Tool`'s own `timeout` wins), is unknown or gets arguments its schema rejects
        answers the model with an `Error: ...` tool message (`tool_errors="raise"` raises
        instead: the tool's exception, `TimeoutError`, or `ValueError`). `on_round(round)` is
        called after each round with tool calls (awaited if it returns an awaitable); returning
        `False` stops the loop. With `on_delta`, every round streams and each piece of the
        answers' text goes to `on_delta(text)` as it arrives (awaited if it returns an awaitable),
        so the final answer shows live. Other keywords (`temperature`, `max_tokens`, ...) go to
        every `chat` call. Returns an `AgentResult`: the final response, the whole conversation in
        `messages`, `rounds`, `usage` and `cost` summed over the rounds, and `stop_reason`.
        """
    def run_agent_loop_sync(self, **kwargs: Any) -> AgentResult:
        """`run_agent_loop` for code without a running event loop: blocks until the loop ends."""
    async def run_agent_loops(
        self,
        loops: Iterable[dict[str, Any]],
        *,
        max_concurrency: int | None = None,
        return_exceptions: bool = True,
        **kwargs: Any,
    ) -> list[AgentResult | BaseException]:
        """Run many agent loops, at most `max_concurrency` at once, under this client's limits.

        Each item of `loops` holds the keywords of one `run_agent_loop` call; `kwargs` are shared
        by all (an item's own keywords win). Results come in input order; a loop that failed is
        its exception, unless `return_exceptions=False` (then the first failure is raised).
        """
    async def submit_batch_job(
        self,
        requests: Iterable[dict[str, Any]],
        *,
        model: str | None = None,
        completion_window: str = "24h",
        manifest: str | os.PathLike[str] | None = None,
        max_requests_per_batch: int | None = None,
        max_bytes_per_batch: int | None = None,
    ) -> BatchJob:
        """Run `requests` through the provider's batch API at its batch price (half price on
        OpenAI and Anthropic); resolves to the `BatchJob` once its batches are created.

        Each request is a dict of `chat()` keywords (`model` fills in where one is missing); all
        must go to one provider, OpenAI-compatible with Files and Batches (the JSONL is written,
        uploaded and a batch created) or Anthropic (Message Batches, with our request
        translation). They are checked and encoded before anything is sent, and split into
        several provider batches by the provider's limits (OpenAI 50,000 requests or 200 MB per
        batch; Anthropic 100,000 or 256 MB), or by lower `max_requests_per_batch` /
        `max_bytes_per_batch`. With `manifest`, the job is saved there before anything is sent
        and after every step, so `BatchJob.load(manifest)` goes on after a crash with no request
        sent twice.

        Raises:
            ValueError: No requests, a bad request (the message starts with `requests[i]: `), a
                streamed one, requests for different providers, a window other than `"24h"`,
                limits above the provider's, or a request larger than a batch may hold.
            EndpointNotSupportedError: The provider has no batch API.
        """
    def load_batch_job(
        self, path: str | os.PathLike[str], *, requests: Iterable[dict[str, Any]] | None = None
    ) -> BatchJob:
        """The batch job saved at `path`, reached through this client (see `BatchJob.load`)."""
    def chat_as_completed(
        self,
        requests: Iterable[dict[str, Any]],
        *,
        max_concurrency: int | None = None,
        progress: bool | str | None = None,
    ) -> ChatBatchIterator:
        """Send many chat completions; iterate `(index, result)` pairs as they finish.

        Validation and scheduling as `chat_batch`; the requests start at once. A failed request
        yields its exception as the result (nothing is raised). Breaking out of the loop, `cancel()`,
        `aclose()` or dropping the iterator cancels the requests not finished yet.

        Example:
            async for index, result in client.chat_as_completed(requests):
                if isinstance(result, LlmError): ...
        """
    async def embed(
        self,
        *,
        model: str,
        input: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
        encoding_format: Literal["float", "base64"] | None = None,
        dimensions: int | None = None,
        user: str | None = None,
        **extra: Any,
    ) -> EmbeddingResponse:
        """Create embeddings (`POST /embeddings`).

        Args:
            model: Embedding model, e.g. "text-embedding-3-small".
            input: One text, a list of texts, a list of token ids or a list of token-id lists.
            encoding_format: Wire format. By default vectors are requested as base64 (a third of the
                size of JSON floats) and decoded; either way `embedding` is a `list[float]`.
            dimensions: Output size, for models that support shortening.
            user: End-user id for abuse monitoring.
            **extra: Other parameters pass through; `extra_body` (dict) is merged into the body,
                `extra_headers` (dict) added to this request.

        Raises:
            ValueError, TypeError: Bad arguments, before anything is sent.
            LlmError: The mapped provider or transport error, after retries.
        """
    async def embed_batch(
        self,
        inputs: Iterable[str | Sequence[int]],
        *,
        model: str,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
        progress: bool | str | None = None,
        **kwargs: Any,
    ) -> EmbeddingResponse:
        """Embed many inputs: split into requests of `batch_size` inputs, run them concurrently.

        Returns one `EmbeddingResponse` whose `data` has one `EmbeddingObject` per input, in input
        order (`data[i].index == i`), with `usage` summed over the requests. Any request failing
        (after its retries) raises and cancels the others.

        Args:
            inputs: Texts or token-id lists, one per vector.
            model: Embedding model.
            batch_size: Inputs per request (default 2048, OpenAI's limit).
            max_concurrency: Requests in flight at most (default 64).
            progress: As for `chat_batch`; counts requests (chunks).
            **kwargs: As for `embed` (`encoding_format`, `dimensions`, `user`, `extra_body`, ...).
        """
    async def list_models(self) -> ModelsListResponse:
        """List the models of the client's own provider (`GET /models`).

        Anthropic's and Gemini's native lists are returned in the same shape.
        """
    async def image_generate(
        self,
        *,
        prompt: str,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        response_format: Literal["url", "b64_json"] | None = None,
        style: str | None = None,
        user: str | None = None,
        **extra: Any,
    ) -> ImagesResponse:
        """Generate images from a text prompt (`POST /images/generations`).

        Args:
            prompt: What to draw.
            model: Image model, e.g. "dall-e-3" or "gpt-image-1" (provider default when omitted).
            n: Number of images.
            size: e.g. "1024x1024".
            quality: e.g. "standard", "hd", "high".
            response_format: "url" or "b64_json".
            style: "vivid" or "natural" (dall-e-3).
            user: End-user id for abuse monitoring.
            **extra: Other parameters pass through; `extra_body` (dict) is merged into the body,
                `extra_headers` (dict) added to this request.

        Raises:
            ValueError, TypeError: Bad arguments, before anything is sent.
            EndpointNotSupportedError: The provider has no image endpoint (nothing is sent).
            LlmError: The mapped provider or transport error, after retries.
        """
    async def speech(
        self,
        *,
        model: str,
        input: str,
        voice: str,
        response_format: str | None = None,
        speed: float | None = None,
        **extra: Any,
    ) -> bytes:
        """Generate speech audio from text (`POST /audio/speech`); returns the raw audio bytes.

        Args:
            model: Speech model, e.g. "tts-1" or "gpt-4o-mini-tts".
            input: The text to speak.
            voice: e.g. "alloy".
            response_format: "mp3" (default), "opus", "aac", "flac", "wav" or "pcm".
            speed: 0.25 to 4.0.
            **extra: As for `image_generate` (e.g. `instructions=`).
        """
    async def transcribe(
        self,
        *,
        model: str,
        file: _FileInput,
        language: str | None = None,
        prompt: str | None = None,
        response_format: Literal["json", "text", "srt", "verbose_json", "vtt"] | None = None,
        temperature: float | None = None,
        filename: str | None = None,
        **extra: Any,
    ) -> TranscriptionResponse:
        """Transcribe audio into text (`POST /audio/transcriptions`, multipart/form-data).

        Args:
            model: e.g. "whisper-1" or "gpt-4o-transcribe".
            file: The audio: bytes, a path (str or os.PathLike), a binary file object, or a tuple
                `(filename, content)` / `(filename, content, content_type)`. It is read into memory
                once; a retry sends it again in full.
            language: ISO-639-1 language of the audio.
            prompt: Text to guide the style or continue a previous segment.
            response_format: `text`, `srt` and `vtt` answers are returned in `text`.
            temperature: Sampling temperature.
            filename: The file name to send (default: the path's or file object's name; for bytes,
                "audio.<ext>" when the format is recognised, else "audio"). The part's content type
                follows its extension.
            **extra: Other form fields (lists become repeated `name[]` fields, e.g.
                `timestamp_granularities=["word"]`); `extra_headers` (dict) added to this request.
        """
    async def moderate(
        self, *, input: str | Sequence[Any], model: str | None = None, **extra: Any
    ) -> ModerationResponse:
        """Classify content for policy violations (`POST /moderations`).

        Args:
            input: A text, a list of texts, or a list of multimodal input parts.
            model: e.g. "omni-moderation-latest" (provider default when omitted).
            **extra: As for `image_generate`.
        """
    async def rerank(
        self,
        *,
        model: str,
        query: str,
        documents: Sequence[str | dict[str, Any]],
        top_n: int | None = None,
        **extra: Any,
    ) -> RerankResponse:
        """Rerank documents by relevance to a query (`POST /rerank`, Cohere/Jina format).

        Served by Cohere, Together, vLLM, llama.cpp and any OpenAI-compatible server at your
        `base_url` (OpenAI itself has no rerank endpoint). Results come sorted by relevance,
        highest first.

        Args:
            model: Rerank model, e.g. "rerank-v3.5".
            query: The search query.
            documents: Texts (or `{"text": ...}` dicts) to rank.
            top_n: Return only the best `top_n`.
            **extra: As for `image_generate` (e.g. `return_documents=True`).
        """
    async def create_file(
        self,
        *,
        file: _FileInput,
        purpose: str,
        filename: str | None = None,
        expires_after: dict[str, Any] | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> FileObject:
        """Upload a file (`POST /files`, multipart/form-data).

        Args:
            file: As for `transcribe`.
            purpose: "batch", "fine-tune", "assistants", "vision", "user_data" or "evals".
            filename: The file name to send (default: the path's or file object's name; for bytes,
                "upload.jsonl" for batch, fine-tune and evals purposes, else "upload").
            expires_after: `{"anchor": "created_at", "seconds": N}`: the provider deletes the
                file N seconds after the anchor (OpenAI accepts 3600 to 2592000); sent as the
                `expires_after[anchor]` / `expires_after[seconds]` form fields.
            extra_headers: Headers added to this request.

        Raises:
            ValueError, TypeError: A malformed `expires_after` (before sending).
        """
    async def retrieve_file(self, file_id: str) -> FileObject:
        """Metadata of an uploaded file (`GET /files/{file_id}`); NotFoundError when there is none."""
    async def delete_file(self, file_id: str) -> DeleteResponse:
        """Delete an uploaded file (`DELETE /files/{file_id}`)."""
    async def list_files(
        self, *, purpose: str | None = None, limit: int | None = None, after: str | None = None
    ) -> FileListResponse:
        """One page of uploaded files, newest first (`GET /files`).

        Args:
            purpose: Only files with this purpose.
            limit: Page size.
            after: Cursor: the `last_id` of the previous page.

        Raises:
            ValueError: `limit` below 1, or an empty `purpose` or `after` (before sending).
        """
    async def file_content(self, file_id: str) -> bytes:
        """The content of an uploaded file (`GET /files/{file_id}/content`)."""
    async def create_batch(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        completion_window: str = "24h",
        metadata: dict[str, str] | None = None,
        **extra: Any,
    ) -> BatchObject:
        """Create a batch job (`POST /batches`).

        Args:
            input_file_id: Id of a JSONL file uploaded with purpose "batch".
            endpoint: e.g. "/v1/chat/completions", "/v1/embeddings", "/v1/responses".
            completion_window: Only "24h" today.
            metadata: Up to 16 string pairs.
            **extra: As for `image_generate`.
        """
    async def retrieve_batch(self, batch_id: str) -> BatchObject:
        """A batch job (`GET /batches/{batch_id}`)."""
    async def list_batches(self, *, limit: int | None = None, after: str | None = None) -> BatchListResponse:
        """One page of batch jobs, newest first (`GET /batches`)."""
    async def cancel_batch(self, batch_id: str) -> BatchObject:
        """Cancel a batch job (`POST /batches/{batch_id}/cancel`); it moves to `cancelling`."""
    async def create_response(
        self,
        *,
        model: str,
        input: str | Sequence[Any] | None = None,
        instructions: str | None = None,
        max_output_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        **extra: Any,
    ) -> ResponseObject:
        """Create a model response with the Responses API (`POST /responses`).

        Args:
            model: e.g. "gpt-4.1-mini" or "o4-mini".
            input: A text or a list of input items (required unless `prompt=` or `conversation=`).
            instructions: System-level instructions.
            max_output_tokens: Upper bound on output tokens, reasoning included.
            temperature: Sampling temperature.
            top_p: Nucleus sampling.
            **extra: Every other Responses API parameter passes through (`tools`, `reasoning`,
                `background`, `store`, `previous_response_id`, ...); `extra_body` and
                `extra_headers` as for `image_generate`.
        """
    async def retrieve_response(self, response_id: str) -> ResponseObject:
        """A stored response (`GET /responses/{response_id}`)."""
    async def cancel_response(self, response_id: str) -> ResponseObject:
        """Cancel a background response (`POST /responses/{response_id}/cancel`)."""

@final
class RateLimiter:
    """Paces requests and tokens per window and caps concurrency; build once, share by clients.

    Requests wait (asyncio never blocks) in arrival order until every limit allows them; no sliding
    window ever holds more requests or tokens than the limit. Only a request that would wait longer
    than `max_delay_seconds`, or that needs more tokens than a tokens limit, raises RateLimitedError.

    Args:
        max_requests_per_minute: Requests per window over all models.
        max_tokens_per_minute: Tokens per window over all models.
        max_concurrency: Requests in flight at once over all models.
        max_delay_seconds: Longest wait before raising RateLimitedError.
        rate_limits: Per-model limits: `{model: {"rpm": ..., "tpm": ..., "max_concurrency": ...}}`.
        burst: False (paced from the start), True (a whole window's limit may go at once), an int
            (that many requests at once) or `{"requests": n, "tokens": m}`. A burst still counts
            against the window, so the pace is lower until it leaves the window.
        window_seconds: The window limits are counted over (60: per minute).
        pacing_granularity_seconds: Requests that fall due within one slot of this length go
            together at the slot's end (never before their even-pace time), so a paced job wakes
            once per slot instead of once per request. None: 1/1200 of the window, at most 0.05;
            0 paces every request on its own.
        backend: A `redis://[user:password@]host[:port][/db]` URL: every process (on any host) whose
            limiter has the same backend and `name` shares one budget. Each grant is one atomic script
            on the Redis server, timed by its clock; processes go in arrival order, a provider 429
            pauses all of them, and concurrency slots are leases a dead process gives back.
        name: The shared budget's name (letters, digits and `._:-`); needed with `backend`.
        lease_seconds: How long a concurrency slot outlives a process that died holding it
            (renewed every third of it while a request runs).
        backend_outage: While Redis cannot be reached: "wait" (calls wait, nothing is sent, and
            after `max_delay_seconds` raise ServiceUnavailableError) or "local" (calls are paced
            by this process's share, each limit divided by `expected_processes`).
        expected_processes: How many processes share the budget (with backend_outage="local").
    """

    def __new__(
        cls,
        *,
        max_requests_per_minute: int | None = None,
        max_tokens_per_minute: int | None = None,
        max_concurrency: int | None = None,
        max_delay_seconds: float = 300.0,
        rate_limits: dict[str, dict[str, int]] | None = None,
        burst: bool | int | dict[str, int] = False,
        window_seconds: float = 60.0,
        pacing_granularity_seconds: float | None = None,
        backend: str | None = None,
        name: str | None = None,
        lease_seconds: float = 30.0,
        backend_outage: Literal["wait", "local"] = "wait",
        expected_processes: int | None = None,
    ) -> RateLimiter: ...
    @property
    def backend(self) -> str | None:
        """The Redis server the budget is shared through (credentials hidden), or None."""
    @property
    def name(self) -> str | None:
        """The shared budget's name, or None."""
    @property
    def lease_seconds(self) -> float:
        """How long a concurrency slot outlives a process that died holding it."""
    @property
    def backend_outage(self) -> Literal["wait", "local"]:
        """What calls do while the backend is unreachable."""
    @property
    def expected_processes(self) -> int | None:
        """With backend_outage="local": how many processes share the limits."""
    @property
    def max_requests_per_minute(self) -> int | None:
        """Requests per window over all models."""
    @property
    def max_tokens_per_minute(self) -> int | None:
        """Tokens per window over all models."""
    @property
    def max_concurrency(self) -> int | None:
        """Requests in flight at once over all models."""
    @property
    def max_delay_seconds(self) -> float:
        """Longest wait before raising RateLimitedError."""
    @property
    def window_seconds(self) -> float:
        """The window limits are counted over."""
    @property
    def pacing_granularity_seconds(self) -> float:
        """Length of a pacing slot (requests due within one go together)."""
    @property
    def rate_limits(self) -> dict[str, dict[str, int]]:
        """Per-model limits, as given."""
    @property
    def burst(self) -> bool | dict[str, int]:
        """What may go up front: False, True or `{"requests": n, "tokens": m}`."""
    def __eq__(self, other: builtins.object, /) -> bool: ...
    def __ne__(self, other: builtins.object, /) -> bool: ...
    def __hash__(self) -> int: ...

def serve(
    client: LlmClient,
    *,
    host: str = "127.0.0.1",
    port: int = 4000,
    master_key: str | None = None,
    config: str | os.PathLike[str] | dict[str, Any] | None = None,
    max_body_bytes: int = 0,
    access_log: str | None = None,
    grace_period: float = 30.0,
) -> None:
    """Serve the OpenAI API in front of `client` (its deployments, cache and limits) on `host:port`.

    Routes: `POST /v1/chat/completions` (streamed as server-sent events when `stream` is true),
    `POST /v1/embeddings`, `/v1/moderations`, `/v1/images/generations`, `/v1/rerank`,
    `/v1/responses`, `GET /v1/models` (all also without `/v1`), `GET /health/liveliness` and
    `/health/readiness`, Prometheus `GET /metrics`, and the virtual-key admin routes `/key/generate`,
    `/key/info`, `/key/update`, `/key/delete` and `/key/list`. With `master_key` (else the
    `general_settings.master_key` of `config`, a LiteLLM config's path or dict), every other route
    wants `Authorization: Bearer KEY` (or `x-api-key: KEY`): the master key, or a virtual key made
    with it, kept where `general_settings.database_url` says: a SQLite file (`sqlite:///path.db`;
    default: `liter_llm/proxy.db` in the user's data directory) or PostgreSQL (`postgresql://...`;
    with `general_settings.redis_url`, replicas on one database share keys' budgets, limits and
    spend through that Redis). `access_log` (else
    `general_settings.access_log`) is `"stdout"` (default), `"off"` or a file path: one JSON line
    per request. `GET /health` checks every deployment now with one tiny request. After SIGINT or
    SIGTERM, requests and streams in flight get `grace_period` seconds to finish.
    Prints `listening on http://HOST:PORT` once ready; returns after SIGINT or SIGTERM once the
    requests in flight have finished. Runs without the GIL. `liter-llm serve` is its command line.
    """

@final
class BatchJob:
    """A provider batch job (`LlmClient.submit_batch_job`): its batches, where they stand, and
    their results.

    The job keeps its state in a manifest (no key in it); `save(path)` writes it and keeps it
    current, and `BatchJob.load(path)` goes on in another process: batches are polled and
    collected, never created twice.
    """

    @property
    def id(self) -> str:
        """The job's id (`bjob_...`)."""
    @property
    def provider(self) -> str:
        """The provider the job's batches live at."""
    @property
    def model(self) -> str:
        """The model of the first request."""
    @property
    def total(self) -> int:
        """Requests in the job."""
    @property
    def status(self) -> str:
        """`submitting`, `in_progress` or `cancelling`; once every batch ended, `completed`,
        `failed` (the provider rejected a batch), `expired` or `cancelled`."""
    @property
    def done(self) -> bool:
        """Whether every provider batch has ended."""
    @property
    def batch_ids(self) -> list[str]:
        """The provider's batch ids, in request order (those created so far)."""
    @property
    def counts(self) -> dict[str, Any]:
        """`total`, `succeeded`, `failed`, `pending`, `batches` and `status`, as last polled."""
    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest as a dict (what `save` writes)."""
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the manifest to `path` now and after every later change."""
    async def refresh(self) -> BatchJob:
        """Submit the batches not submitted yet and poll the provider once."""
    async def wait(
        self,
        *,
        poll_interval: float = 30.0,
        timeout: float | None = None,
        progress: bool | str | Callable[[dict[str, Any]], Any] | None = None,
    ) -> BatchJob:
        """Poll every `poll_interval` seconds until every batch ended.

        `progress`: `True` or a label prints a line per poll on stderr; a callable gets the
        `counts` dict after each poll (from a worker thread; keep it quick; what it raises ends
        the wait). `timeout` raises `LlmTimeoutError`; the job goes on at the provider.
        """
    async def results(self, *, poll_interval: float = 30.0) -> list[ChatCompletionResponse | LlmError]:
        """Wait for the job, then one result per request in input order: the response (with
        `cost` at the batch price), or the `LlmError` of a request that failed
        (`RequestCancelledError` if a cancellation stopped it, `LlmTimeoutError` if the window
        ran out). Usage and cost go to `client.usage` the first time."""
    async def cancel(self) -> BatchJob:
        """Cancel the job: running batches are asked to stop, batches not submitted yet never
        will be; requests that finished keep their results."""
    @staticmethod
    def load(
        path: str | os.PathLike[str],
        client: LlmClient | None = None,
        requests: Iterable[dict[str, Any]] | None = None,
    ) -> BatchJob:
        """The job saved at `path` (it keeps writing there).

        `client` reaches the provider (default `LlmClient(model_hint=<the job's model>,
        base_url=<the job's base URL>)`, the key from the provider's environment variable); it
        must route the job's model to the same provider and base URL. `requests` (the job's
        own; `model` defaults to the job's) are needed only when a batch was never created.
        """

@final
class McpSession:
    """A session with one MCP server (`liter_llm.tools_from_mcp` builds tools on it)."""

    @staticmethod
    async def stdio(command: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60.0) -> McpSession:
        """Start `command` and open a session over its stdin/stdout."""
    @staticmethod
    async def http(url: str, *, token: str | None = None, timeout: float = 60.0) -> McpSession:
        """Open a session with the streamable-HTTP server at `url`."""
    async def tools(self) -> list[dict[str, Any]]:
        """The server's tools as Chat Completions tool definitions."""
    async def call(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """Call tool `name`: its answer as text, and whether it is an error."""
    async def close(self) -> None:
        """End the session and stop the server's process."""

@final
class Cache:
    """A response cache: in memory (LRU bounded by bytes), in a SQLite file, or in Redis.

    `url` is `"memory"`, `"sqlite:///abs/path.db"` (`sqlite://rel/path.db` is relative) or
    `"redis://[user:password@]host:port[/db]"`. `ttl` (seconds) bounds how long entries live;
    `max_bytes` caps memory (256 MiB) or the SQLite file (1 GiB); `namespace` separates entries.
    Nothing is opened or connected until the first call: a backend that is down, full or corrupt
    makes calls go uncached (one warning per outage, counted in `stats()["errors"]`), never fail.
    One `Cache` given to several clients shares its entries and its in-flight calls.
    """

    def __new__(
        cls,
        url: str = "memory",
        *,
        ttl: float | None = None,
        max_bytes: int | None = None,
        namespace: str | None = None,
    ) -> Cache: ...
    @property
    def url(self) -> str:
        """The URL, password masked."""
    @property
    def kind(self) -> str:
        """`memory`, `sqlite` or `redis`."""
    @property
    def ttl(self) -> float | None:
        """Seconds entries live, or None (until evicted)."""
    @property
    def namespace(self) -> str:
        """The default namespace."""
    def stats(self) -> dict[str, int]:
        """Counters: `hits`, `misses`, `joined` (answered by an identical call in flight), `writes`,
        `errors` (failed backend operations) and `skipped` (answers too large to keep)."""
    async def clear(self) -> None:
        """Remove every entry; raises `NetworkError` when the backend cannot be reached."""

@final
class ChatStreamIterator:
    """Async iterator over `ChatCompletionChunk`s; also an async context manager."""

    @property
    def deployment(self) -> str | None:
        """The id of the deployment streaming, when the model named a routed group."""
    @property
    def cache_hit(self) -> bool:
        """Whether the stream replays an answer from the response cache."""
    def __aiter__(self) -> Self: ...
    async def __anext__(self) -> ChatCompletionChunk: ...
    def cancel(self) -> None:
        """Stop now: abort the read in flight and close the connection."""
    async def aclose(self) -> None:
        """Close the stream."""
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
        /,
    ) -> bool: ...

# ----- batches and embeddings -----

@final
class ChatBatchIterator:
    """Async iterator of `(index, result)` returned by `LlmClient.chat_as_completed()`.

    `result` is a `ChatCompletionResponse` or the request's exception (an `LlmError` instance).
    Also an async context manager that cancels what is left on exit.
    """

    def __aiter__(self) -> Self: ...
    async def __anext__(self) -> tuple[int, ChatCompletionResponse | LlmError]: ...
    def stats(self) -> dict[str, Any]:
        """The batch's counters so far.

        Keys: `total`, `done`, `errors`, `tokens` (int); `cost` (float USD, or None when unknown);
        `elapsed` (seconds); `latency_p50`, `latency_p95`, `latency_p99` (seconds per request,
        retries and rate-limit waits included; None before the first result).
        """
    def cancel(self) -> None:
        """Cancel the requests not finished yet and end the iteration."""
    async def aclose(self) -> None:
        """Cancel the rest."""
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
        /,
    ) -> bool: ...

@final
class EmbeddingObject(_Model):
    """One vector of an embeddings response."""

    @property
    def index(self) -> int:
        """Position of the input this vector belongs to."""
    @property
    def embedding(self) -> list[float]:
        """The vector (decoded from base64 when it was sent that way)."""
    @property
    def object(self) -> str:
        """Always `embedding`."""

@final
class EmbeddingResponse(_Model):
    """An embeddings response."""

    @property
    def object(self) -> str:
        """Always `list`."""
    @property
    def data(self) -> list[EmbeddingObject]:
        """One vector per input, in input order."""
    @property
    def model(self) -> str:
        """Model that answered."""
    @property
    def usage(self) -> Usage:
        """Token usage (`completion_tokens` is 0)."""
    @property
    def deployment(self) -> str | None:
        """The id of the deployment that answered, when the model named a routed group."""
    @property
    def cache_hit(self) -> bool:
        """Every vector came from the response cache (no call was made)."""

# ----- usage, pricing, tokens, sanitising -----

# ----- usage, pricing, tokens, sanitising -----

@final
class UsageTracker:
    """Usage of every call made through a client, updated lock-free from Rust; read-only.

    `calls` counts every call, failures included; latency statistics cover successful calls,
    time-to-first-token statistics cover streams. Times are in seconds. Percentiles take `p` in
    0-100 (nearest rank, from a log-bucket histogram accurate to about 3%; 0 and 100 are the exact
    minimum and maximum) and are `None` before the first sample. `UsageTracker()` is an empty
    tracker; `client.usage` is the client's live one.
    """

    def __new__(cls) -> UsageTracker: ...
    @property
    def calls(self) -> int:
        """Calls recorded, failures included."""
    @property
    def failures(self) -> int:
        """Calls that failed after their last retry."""
    @property
    def retries(self) -> int:
        """Retries made, over all calls."""
    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens (cache reads and writes included)."""
    @property
    def completion_tokens(self) -> int:
        """Completion tokens (reasoning included)."""
    @property
    def cached_tokens(self) -> int:
        """Prompt tokens read from the provider's cache."""
    @property
    def reasoning_tokens(self) -> int:
        """Reasoning tokens."""
    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
    @property
    def total_cost(self) -> float:
        """Cost in USD of the calls whose model has a known price."""
    @property
    def cache_hits(self) -> int:
        """Calls answered from the response cache (not in `calls`, tokens or cost)."""
    @property
    def cache_saved_tokens(self) -> int:
        """Tokens the cache hits' original calls used."""
    @property
    def cache_saved_cost(self) -> float:
        """What the cache hits' original calls cost in USD, where priced."""
    @property
    def mean_latency(self) -> float | None:
        """Mean latency of successful calls in seconds."""
    @property
    def mean_ttft(self) -> float | None:
        """Mean time to first token of streams in seconds."""
    def latency_at_percentile(self, p: float) -> float | None:
        """Latency of successful calls at percentile `p` (0-100), in seconds."""
    def ttft_at_percentile(self, p: float) -> float | None:
        """Time to first token at percentile `p` (0-100), in seconds."""
    @property
    def per_model(self) -> dict[str, dict[str, Any]]:
        """Statistics per model name, each a dict like `details` without `per_model`."""
    @property
    def per_deployment(self) -> dict[str, dict[str, Any]]:
        """Statistics per deployment id of the routed groups (each attempt counts as a call of
        its deployment)."""
    @property
    def details(self) -> dict[str, Any]:
        """Every statistic as a dict: calls, successes, failures, retries, token counts (prompt,
        completion, cached, cache_write, reasoning, total), total_cost, unpriced_calls,
        mean/p50/p95/p99/max latency, mean_failure_latency, streams, mean/p50/p95 ttft, per_model,
        per_deployment."""
    def reset(self) -> None:
        """Zero every counter and forget the models and deployments."""
    @property
    def total_prompt_tokens(self) -> int:
        """Alias of `prompt_tokens` (llm-api-client's APIUsageTracker name)."""
    @property
    def total_completion_tokens(self) -> int:
        """Alias of `completion_tokens` (llm-api-client's name)."""
    @property
    def num_api_calls(self) -> int:
        """Alias of `calls` (llm-api-client's name)."""
    @property
    def mean_response_time(self) -> float | None:
        """Alias of `mean_latency` (llm-api-client's name)."""
    def response_time_at_percentile(self, percentile: float) -> float | None:
        """Alias of `latency_at_percentile` (llm-api-client's name)."""

def register_model(
    name: str,
    *,
    input_cost_per_million: float,
    output_cost_per_million: float,
    cached_input_cost_per_million: float | None = None,
    cache_write_cost_per_million: float | None = None,
    context_window: int | None = None,
    max_output_tokens: int | None = None,
    provider: str | None = None,
    batch_price_factor: float | None = None,
) -> None:
    """Add or replace a model in the pricing table (process-wide); prices are USD per million tokens.

    Names are case-insensitive; a dated or suffixed name (`my-model-2025-01-01`) resolves to the
    longest registered prefix. A missing cached or cache-write price bills those tokens as input.
    `batch_price_factor` (0..1) is what provider batch jobs pay of these prices; by default half
    for OpenAI and Anthropic models, else the full price.
    """

def model_info(name: str) -> dict[str, Any] | None:
    """Prices and limits for `name`, or None when unknown.

    Resolves `provider/` prefixes and dated variants (`gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`).
    Keys: name, provider, input_cost_per_million, output_cost_per_million,
    cached_input_cost_per_million, cache_write_cost_per_million, context_window, max_output_tokens,
    max_input_tokens, long_context, batch_price_factor (what provider batch jobs pay of these
    prices).
    """

def completion_cost(*, model: str, usage: Usage | dict[str, Any]) -> float | None:
    """Cost in USD of a call to `model` with `usage`, or None when the model has no price.

    Cached prompt tokens are billed at the cached rate: OpenAI-style `prompt_tokens_details.cached_tokens`
    are part of `prompt_tokens`; Anthropic's `cache_read_input_tokens` / `cache_creation_input_tokens`
    are in addition to the input tokens.
    """

def count_tokens(*, model: str, messages: Sequence[dict[str, Any]] | None = None, text: str | None = None) -> int:
    """Tokens that `messages` (OpenAI chat format, with per-message overhead) or `text` take for `model`.

    Exact for OpenAI models (o200k_base: gpt-4o, gpt-4.1, gpt-5, o-series; cl100k_base: gpt-4,
    gpt-3.5-turbo); a scaled o200k estimate that errs high for other providers. Give exactly one of
    `messages` or `text`. Runs with the GIL released.
    """

def sanitize_request(request: dict[str, Any]) -> dict[str, Any]:
    """A copy of a chat request made acceptable to `request["model"]`.

    Drops parameters the model rejects (e.g. temperature for o-series models), renames others
    (`max_tokens` -> `max_completion_tokens` for reasoning models, `seed` -> `random_seed` for
    Mistral), and removes the oldest non-system messages until the prompt fits the context window
    less `max_tokens`; a tool call and its results are removed together.
    """

# ----- response models -----

@final
class Usage(_Model):
    """Token counts for one request."""

    @property
    def prompt_tokens(self) -> int:
        """Tokens in the prompt."""
    @property
    def completion_tokens(self) -> int:
        """Tokens in the completion."""
    @property
    def total_tokens(self) -> int:
        """Prompt plus completion."""
    @property
    def prompt_tokens_details(self) -> PromptTokensDetails | None:
        """Breakdown of prompt tokens (cached, audio)."""
    @property
    def completion_tokens_details(self) -> CompletionTokensDetails | None:
        """Breakdown of completion tokens (reasoning, audio, predictions)."""

@final
class PromptTokensDetails(_Model):
    """Breakdown of the prompt tokens; other fields a provider sends stay in `to_dict()`."""

    @property
    def cached_tokens(self) -> int | None:
        """Prompt tokens read from the provider's cache."""
    @property
    def audio_tokens(self) -> int | None:
        """Audio input tokens."""

@final
class CompletionTokensDetails(_Model):
    """Breakdown of the completion tokens."""

    @property
    def reasoning_tokens(self) -> int | None:
        """Tokens the model spent reasoning (part of the completion tokens)."""
    @property
    def audio_tokens(self) -> int | None:
        """Audio output tokens."""
    @property
    def accepted_prediction_tokens(self) -> int | None:
        """Predicted-output tokens that appeared in the completion."""
    @property
    def rejected_prediction_tokens(self) -> int | None:
        """Predicted-output tokens that did not appear (billed all the same)."""

@final
class TopLogprob(_Model):
    """One of the most likely tokens at a position."""

    @property
    def token(self) -> str:
        """The token text."""
    @property
    def logprob(self) -> float:
        """Its log probability."""
    @property
    def bytes(self) -> list[int] | None:
        """Its UTF-8 bytes (a token may hold part of a character)."""

@final
class TokenLogprob(_Model):
    """The log probability of one generated token, with the alternatives when requested."""

    @property
    def token(self) -> str:
        """The token text."""
    @property
    def logprob(self) -> float:
        """Its log probability."""
    @property
    def bytes(self) -> list[int] | None:
        """Its UTF-8 bytes (a token may hold part of a character)."""
    @property
    def top_logprobs(self) -> list[TopLogprob]:
        """The `top_logprobs` most likely tokens at this position, most likely first."""

@final
class ChoiceLogprobs(_Model):
    """Log probabilities of a choice's tokens (`logprobs=True`)."""

    @property
    def content(self) -> list[TokenLogprob] | None:
        """One entry per content token."""
    @property
    def refusal(self) -> list[TokenLogprob] | None:
        """One entry per refusal token."""

@final
class FunctionCall(_Model):
    """The function a tool call invokes."""

    @property
    def name(self) -> str:
        """Function name."""
    @property
    def arguments(self) -> str:
        """Arguments as a JSON string."""

@final
class ToolCall(_Model):
    """A tool call made by the assistant."""

    @property
    def id(self) -> str:
        """Call id, echoed back in the tool result."""
    @property
    def type(self) -> str:
        """Always `function` today."""
    @property
    def function(self) -> FunctionCall:
        """The call itself."""

@final
class AssistantMessage(_Model):
    """The assistant's message in a non-streamed choice."""

    @property
    def role(self) -> str:
        """Always `assistant`."""
    @property
    def content(self) -> str | None:
        """Text content."""
    @property
    def tool_calls(self) -> list[ToolCall] | None:
        """Tool calls made by the assistant."""
    @property
    def refusal(self) -> str | None:
        """Refusal message."""
    @property
    def reasoning_content(self) -> str | None:
        """Reasoning text, for providers that return it (`reasoning_content`, or `reasoning` as
        OpenRouter, Groq and vLLM name it)."""
    @property
    def parsed(self) -> Any:
        """The structured output, when `response_format` carried a schema: a dict for a
        `json_schema` dict or a TypedDict, an instance for a pydantic model class. `None` when no
        schema was requested, for a refusal and without content. Parsed once, when the response
        arrived; reading it raises `ValueError` (`pydantic.ValidationError` for a model class) when
        the content does not parse.
        """

@final
class Choice(_Model):
    """One completion choice."""

    @property
    def index(self) -> int:
        """Choice index."""
    @property
    def message(self) -> AssistantMessage:
        """The assistant's message."""
    @property
    def finish_reason(self) -> str | None:
        """Why generation stopped (stop, length, tool_calls, ...)."""
    @property
    def logprobs(self) -> ChoiceLogprobs | None:
        """Token log probabilities, when requested."""

@final
class ChatCompletionResponse(_Model):
    """A chat completion."""

    @property
    def id(self) -> str:
        """Response ID."""
    @property
    def object(self) -> str:
        """Always `chat.completion`."""
    @property
    def created(self) -> int:
        """Unix timestamp."""
    @property
    def model(self) -> str:
        """Model used."""
    @property
    def choices(self) -> list[Choice]:
        """Completion choices."""
    @property
    def usage(self) -> Usage | None:
        """Token usage."""
    @property
    def system_fingerprint(self) -> str | None:
        """Backend configuration fingerprint."""
    @property
    def service_tier(self) -> str | None:
        """Service tier used."""
    @property
    def cost(self) -> float | None:
        """What the call cost in USD by the pricing table; None when the price is unknown."""
    @property
    def request_id(self) -> str | None:
        """The provider's id for the request (`x-request-id`), for support tickets and logs."""
    @property
    def deployment(self) -> str | None:
        """The id of the deployment that answered, when the model named a routed group."""
    @property
    def cache_hit(self) -> bool:
        """Answered from the response cache (no call was made; `usage` is the original call's)."""
    @staticmethod
    def from_chunks(chunks: Iterable[ChatCompletionChunk]) -> ChatCompletionResponse:
        """The whole answer a stream's chunks make up: texts and tool-call arguments joined per
        choice, the last finish reason and usage kept, `cost` from the pricing table."""

@final
class FunctionCallDelta(_Model):
    """The streamed part of a function call."""

    @property
    def name(self) -> str | None:
        """Function name (first delta only)."""
    @property
    def arguments(self) -> str | None:
        """A fragment of the JSON arguments."""

@final
class ToolCallDelta(_Model):
    """A streamed fragment of a tool call."""

    @property
    def index(self) -> int:
        """Which tool call this fragment extends."""
    @property
    def id(self) -> str | None:
        """Call id (first delta only)."""
    @property
    def type(self) -> str | None:
        """Call type (first delta only)."""
    @property
    def function(self) -> FunctionCallDelta | None:
        """Function fragment."""

@final
class StreamDelta(_Model):
    """What a chunk adds to the message."""

    @property
    def role(self) -> str | None:
        """Role (first chunk only)."""
    @property
    def content(self) -> str | None:
        """A text fragment."""
    @property
    def tool_calls(self) -> list[ToolCallDelta] | None:
        """Tool-call fragments."""
    @property
    def refusal(self) -> str | None:
        """A refusal fragment."""
    @property
    def reasoning_content(self) -> str | None:
        """A reasoning fragment, for providers that stream it (`reasoning_content` or `reasoning`)."""

@final
class StreamChoice(_Model):
    """One choice within a stream chunk."""

    @property
    def index(self) -> int:
        """Choice index."""
    @property
    def delta(self) -> StreamDelta:
        """The increment."""
    @property
    def finish_reason(self) -> str | None:
        """Set on the choice's last chunk."""
    @property
    def logprobs(self) -> ChoiceLogprobs | None:
        """Token log probabilities, when requested."""

@final
class ChatCompletionChunk(_Model):
    """One streamed chunk, yielded by `chat_stream()`."""

    @property
    def id(self) -> str:
        """Response ID (the same for every chunk)."""
    @property
    def object(self) -> str:
        """Always `chat.completion.chunk`."""
    @property
    def created(self) -> int:
        """Unix timestamp."""
    @property
    def model(self) -> str:
        """Model used."""
    @property
    def choices(self) -> list[StreamChoice]:
        """Stream choices with deltas (empty on the usage chunk)."""
    @property
    def usage(self) -> Usage | None:
        """Token usage (final usage chunk only)."""
    @property
    def system_fingerprint(self) -> str | None:
        """Backend configuration fingerprint."""
    @property
    def service_tier(self) -> str | None:
        """Service tier used."""

# ----- endpoint response models (models, images, audio, moderation, rerank, files, batches, responses) -----

@final
class ModelObject(_Model):
    """One model the provider serves."""

    @property
    def id(self) -> str:
        """Model id, as passed to `model=`."""
    @property
    def object(self) -> str:
        """Always `model`."""
    @property
    def created(self) -> int:
        """Unix time the model was created (0 when the provider does not say)."""
    @property
    def owned_by(self) -> str:
        """Organisation owning the model."""

@final
class ModelsListResponse(_Model):
    """The models a provider serves (`list_models()`)."""

    @property
    def object(self) -> str:
        """Always `list`."""
    @property
    def data(self) -> list[ModelObject]:
        """The models."""

@final
class Image(_Model):
    """One generated image: a URL or base64 data, depending on `response_format`."""

    @property
    def url(self) -> str | None:
        """Where to download the image (OpenAI's links expire after an hour)."""
    @property
    def b64_json(self) -> str | None:
        """The image, base64-encoded."""
    @property
    def revised_prompt(self) -> str | None:
        """The prompt the model actually used, when it rewrote yours."""

@final
class ImagesResponse(_Model):
    """An image generation response (`image_generate()`)."""

    @property
    def created(self) -> int:
        """Unix time of creation."""
    @property
    def data(self) -> list[Image]:
        """The images."""
    @property
    def usage(self) -> dict[str, Any] | None:
        """Token usage of image models that bill by token, as sent."""

@final
class TranscriptionSegment(_Model):
    """One timed segment of a `verbose_json` transcription."""

    @property
    def id(self) -> int:
        """Segment number."""
    @property
    def seek(self) -> int:
        """Seek offset of the segment."""
    @property
    def start(self) -> float:
        """Start time in seconds."""
    @property
    def end(self) -> float:
        """End time in seconds."""
    @property
    def text(self) -> str:
        """The segment's text."""
    @property
    def tokens(self) -> list[int]:
        """Token ids of the text."""
    @property
    def temperature(self) -> float:
        """Sampling temperature used."""
    @property
    def avg_logprob(self) -> float:
        """Average log probability of the tokens."""
    @property
    def compression_ratio(self) -> float:
        """Compression ratio (high values hint at repetition)."""
    @property
    def no_speech_prob(self) -> float:
        """Probability that the segment is silence."""

@final
class TranscriptionWord(_Model):
    """One timed word of a `verbose_json` transcription."""

    @property
    def word(self) -> str:
        """The word."""
    @property
    def start(self) -> float:
        """Start time in seconds."""
    @property
    def end(self) -> float:
        """End time in seconds."""

@final
class TranscriptionResponse(_Model):
    """A transcription (`transcribe()`). With `response_format` `text`, `srt` or `vtt` the
    provider's plain-text answer is in `text` and the other fields are None."""

    @property
    def text(self) -> str:
        """The transcribed text (or the srt/vtt document)."""
    @property
    def language(self) -> str | None:
        """Detected language (`verbose_json`)."""
    @property
    def duration(self) -> float | None:
        """Audio duration in seconds (`verbose_json`)."""
    @property
    def segments(self) -> list[TranscriptionSegment] | None:
        """Timed segments (`verbose_json`)."""
    @property
    def words(self) -> list[TranscriptionWord] | None:
        """Timed words (`verbose_json` with `timestamp_granularities=["word"]`)."""
    @property
    def usage(self) -> dict[str, Any] | None:
        """Usage, as sent."""

@final
class ModerationCategories(_Model):
    """Whether each category was flagged; None when the provider did not report the category.
    `to_dict()` uses the wire names (`self-harm/intent`)."""

    @property
    def harassment(self) -> bool | None:
        """Harassment."""
    @property
    def harassment_threatening(self) -> bool | None:
        """Harassment with threats (`harassment/threatening`)."""
    @property
    def hate(self) -> bool | None:
        """Hate."""
    @property
    def hate_threatening(self) -> bool | None:
        """Hate with threats (`hate/threatening`)."""
    @property
    def illicit(self) -> bool | None:
        """Advice on wrongdoing."""
    @property
    def illicit_violent(self) -> bool | None:
        """Advice on violent wrongdoing (`illicit/violent`)."""
    @property
    def self_harm(self) -> bool | None:
        """Self-harm (`self-harm`)."""
    @property
    def self_harm_intent(self) -> bool | None:
        """Intent to self-harm (`self-harm/intent`)."""
    @property
    def self_harm_instructions(self) -> bool | None:
        """Instructions for self-harm (`self-harm/instructions`)."""
    @property
    def sexual(self) -> bool | None:
        """Sexual content."""
    @property
    def sexual_minors(self) -> bool | None:
        """Sexual content involving minors (`sexual/minors`)."""
    @property
    def violence(self) -> bool | None:
        """Violence."""
    @property
    def violence_graphic(self) -> bool | None:
        """Graphic violence (`violence/graphic`)."""

@final
class ModerationCategoryScores(_Model):
    """The model's score (0 to 1) per category; None when the provider did not report it."""

    @property
    def harassment(self) -> float | None:
        """Harassment."""
    @property
    def harassment_threatening(self) -> float | None:
        """Harassment with threats (`harassment/threatening`)."""
    @property
    def hate(self) -> float | None:
        """Hate."""
    @property
    def hate_threatening(self) -> float | None:
        """Hate with threats (`hate/threatening`)."""
    @property
    def illicit(self) -> float | None:
        """Advice on wrongdoing."""
    @property
    def illicit_violent(self) -> float | None:
        """Advice on violent wrongdoing (`illicit/violent`)."""
    @property
    def self_harm(self) -> float | None:
        """Self-harm (`self-harm`)."""
    @property
    def self_harm_intent(self) -> float | None:
        """Intent to self-harm (`self-harm/intent`)."""
    @property
    def self_harm_instructions(self) -> float | None:
        """Instructions for self-harm (`self-harm/instructions`)."""
    @property
    def sexual(self) -> float | None:
        """Sexual content."""
    @property
    def sexual_minors(self) -> float | None:
        """Sexual content involving minors (`sexual/minors`)."""
    @property
    def violence(self) -> float | None:
        """Violence."""
    @property
    def violence_graphic(self) -> float | None:
        """Graphic violence (`violence/graphic`)."""

@final
class ModerationResult(_Model):
    """The verdict for one input."""

    @property
    def flagged(self) -> bool:
        """Whether any category was flagged."""
    @property
    def categories(self) -> ModerationCategories:
        """Per-category flags."""
    @property
    def category_scores(self) -> ModerationCategoryScores:
        """Per-category scores."""
    @property
    def category_applied_input_types(self) -> dict[str, Any] | None:
        """Which input types (text, image) each category applied to, as sent."""

@final
class ModerationResponse(_Model):
    """A moderation response (`moderate()`)."""

    @property
    def id(self) -> str:
        """Response id."""
    @property
    def model(self) -> str:
        """Model that classified."""
    @property
    def results(self) -> list[ModerationResult]:
        """One result per input."""

@final
class RerankResult(_Model):
    """One reranked document."""

    @property
    def index(self) -> int:
        """Position of the document in the request's `documents`."""
    @property
    def relevance_score(self) -> float:
        """Relevance to the query (higher is more relevant)."""
    @property
    def document(self) -> Any:
        """The document when the provider returns it (`{"text": ...}` or the text), else None."""

@final
class RerankResponse(_Model):
    """A rerank response (`rerank()`); `results` are sorted by `relevance_score`, highest first."""

    @property
    def id(self) -> str | None:
        """Response id, when the provider sends one."""
    @property
    def model(self) -> str | None:
        """Model that ranked, when the provider says."""
    @property
    def results(self) -> list[RerankResult]:
        """The documents by relevance, highest first."""
    @property
    def usage(self) -> dict[str, Any] | None:
        """Usage, as sent (Jina style)."""
    @property
    def meta(self) -> dict[str, Any] | None:
        """Billing and version metadata, as sent (Cohere style)."""

@final
class FileObject(_Model):
    """An uploaded file."""

    @property
    def id(self) -> str:
        """File id."""
    @property
    def object(self) -> str:
        """Always `file`."""
    @property
    def bytes(self) -> int:
        """Size in bytes."""
    @property
    def created_at(self) -> int:
        """Unix time of upload."""
    @property
    def filename(self) -> str:
        """The name it was uploaded with."""
    @property
    def purpose(self) -> str:
        """Its purpose (`batch`, `fine-tune`, `assistants`, `user_data`, ...)."""
    @property
    def status(self) -> str | None:
        """Processing status (deprecated by OpenAI, still sent)."""
    @property
    def status_details(self) -> str | None:
        """Why processing failed, if it did."""
    @property
    def expires_at(self) -> int | None:
        """Unix time it expires, if it does."""
    def __getitem__(self, key: str, /) -> Any:
        """A field by its JSON name, as in the dict the seed API returned (`KeyError` if absent)."""
    def get(self, key: str, default: Any = None) -> Any:
        """A field by its JSON name, or `default`."""
    def keys(self) -> list[str]:
        """The JSON field names, so `dict(obj)` works."""

@final
class FileListResponse(_Model):
    """A page of files (`list_files()`)."""

    @property
    def object(self) -> str:
        """Always `list`."""
    @property
    def data(self) -> list[FileObject]:
        """The files, newest first."""
    @property
    def has_more(self) -> bool | None:
        """Whether more files follow (pass `after=last_id`)."""
    @property
    def first_id(self) -> str | None:
        """Id of the first file on the page."""
    @property
    def last_id(self) -> str | None:
        """Id of the last file on the page."""
    def __getitem__(self, key: str, /) -> Any:
        """A field by its JSON name, as in the dict the seed API returned (`KeyError` if absent)."""
    def get(self, key: str, default: Any = None) -> Any:
        """A field by its JSON name, or `default`."""
    def keys(self) -> list[str]:
        """The JSON field names, so `dict(obj)` works."""

@final
class DeleteResponse(_Model):
    """The answer to a deletion."""

    @property
    def id(self) -> str:
        """Id of the deleted object."""
    @property
    def object(self) -> str:
        """Kind of the deleted object (`file`)."""
    @property
    def deleted(self) -> bool:
        """Whether it was deleted."""
    def __getitem__(self, key: str, /) -> Any:
        """A field by its JSON name, as in the dict the seed API returned (`KeyError` if absent)."""
    def get(self, key: str, default: Any = None) -> Any:
        """A field by its JSON name, or `default`."""
    def keys(self) -> list[str]:
        """The JSON field names, so `dict(obj)` works."""

@final
class BatchRequestCounts(_Model):
    """How many requests of a batch are done."""

    @property
    def total(self) -> int:
        """Requests in the batch."""
    @property
    def completed(self) -> int:
        """Requests completed."""
    @property
    def failed(self) -> int:
        """Requests failed."""

@final
class BatchObject(_Model):
    """A batch job."""

    @property
    def id(self) -> str:
        """Batch id."""
    @property
    def object(self) -> str:
        """Always `batch`."""
    @property
    def endpoint(self) -> str:
        """The endpoint every request goes to (`/v1/chat/completions`, ...)."""
    @property
    def errors(self) -> dict[str, Any] | None:
        """Validation errors, as sent."""
    @property
    def input_file_id(self) -> str:
        """Id of the uploaded JSONL input."""
    @property
    def completion_window(self) -> str:
        """Time frame, e.g. `24h`."""
    @property
    def status(self) -> str:
        """`validating`, `in_progress`, `finalizing`, `completed`, `failed`, `expired`, `cancelling` or `cancelled`."""
    @property
    def output_file_id(self) -> str | None:
        """Id of the results file, once there is one."""
    @property
    def error_file_id(self) -> str | None:
        """Id of the errors file, once there is one."""
    @property
    def created_at(self) -> int:
        """Unix time of creation."""
    @property
    def in_progress_at(self) -> int | None:
        """When processing started."""
    @property
    def expires_at(self) -> int | None:
        """When the batch expires."""
    @property
    def finalizing_at(self) -> int | None:
        """When finalizing started."""
    @property
    def completed_at(self) -> int | None:
        """When it completed."""
    @property
    def failed_at(self) -> int | None:
        """When it failed."""
    @property
    def expired_at(self) -> int | None:
        """When it expired."""
    @property
    def cancelling_at(self) -> int | None:
        """When cancelling started."""
    @property
    def cancelled_at(self) -> int | None:
        """When it was cancelled."""
    @property
    def request_counts(self) -> BatchRequestCounts | None:
        """Request counts."""
    @property
    def metadata(self) -> dict[str, Any] | None:
        """Your metadata."""
    def __getitem__(self, key: str, /) -> Any:
        """A field by its JSON name, as in the dict the seed API returned (`KeyError` if absent)."""
    def get(self, key: str, default: Any = None) -> Any:
        """A field by its JSON name, or `default`."""
    def keys(self) -> list[str]:
        """The JSON field names, so `dict(obj)` works."""

@final
class BatchListResponse(_Model):
    """A page of batches (`list_batches()`)."""

    @property
    def object(self) -> str:
        """Always `list`."""
    @property
    def data(self) -> list[BatchObject]:
        """The batches, newest first."""
    @property
    def has_more(self) -> bool | None:
        """Whether more batches follow (pass `after=last_id`)."""
    @property
    def first_id(self) -> str | None:
        """Id of the first batch on the page."""
    @property
    def last_id(self) -> str | None:
        """Id of the last batch on the page."""
    def __getitem__(self, key: str, /) -> Any:
        """A field by its JSON name, as in the dict the seed API returned (`KeyError` if absent)."""
    def get(self, key: str, default: Any = None) -> Any:
        """A field by its JSON name, or `default`."""
    def keys(self) -> list[str]:
        """The JSON field names, so `dict(obj)` works."""

@final
class ResponseContent(_Model):
    """One part of an output message: `output_text` (with `text`) or `refusal`."""

    @property
    def type(self) -> str:
        """`output_text` or `refusal`."""
    @property
    def text(self) -> str | None:
        """The text (`output_text`)."""
    @property
    def annotations(self) -> list[Any] | None:
        """Citations and other annotations, as sent."""
    @property
    def refusal(self) -> str | None:
        """The refusal (`refusal`)."""

@final
class ResponseOutputItem(_Model):
    """One output item of a response. A `message` has `role` and `content`, a `reasoning` item
    has `summary`, a `function_call` has `call_id`, `name` and `arguments`; the other fields are None."""

    @property
    def type(self) -> str:
        """`message`, `reasoning`, `function_call` or another item type."""
    @property
    def id(self) -> str | None:
        """Item id."""
    @property
    def status(self) -> str | None:
        """Item status."""
    @property
    def role(self) -> str | None:
        """`assistant` (messages)."""
    @property
    def content(self) -> list[ResponseContent] | None:
        """Message parts (messages)."""
    @property
    def summary(self) -> list[Any] | None:
        """Reasoning summary parts, `{"type": "summary_text", "text": ...}` (reasoning)."""
    @property
    def call_id(self) -> str | None:
        """Call id to answer with a `function_call_output` item (function calls)."""
    @property
    def name(self) -> str | None:
        """Function name (function calls)."""
    @property
    def arguments(self) -> str | None:
        """Arguments as a JSON string (function calls)."""

@final
class InputTokensDetails(_Model):
    """Breakdown of input tokens."""

    @property
    def cached_tokens(self) -> int:
        """Tokens read from the prompt cache."""

@final
class OutputTokensDetails(_Model):
    """Breakdown of output tokens."""

    @property
    def reasoning_tokens(self) -> int:
        """Tokens spent reasoning."""

@final
class ResponseUsage(_Model):
    """Token usage of a response."""

    @property
    def input_tokens(self) -> int:
        """Input tokens."""
    @property
    def output_tokens(self) -> int:
        """Output tokens (reasoning included)."""
    @property
    def total_tokens(self) -> int:
        """Input plus output."""
    @property
    def input_tokens_details(self) -> InputTokensDetails:
        """Input breakdown."""
    @property
    def output_tokens_details(self) -> OutputTokensDetails:
        """Output breakdown."""

@final
class ResponseObject(_Model):
    """A model response from the Responses API (`create_response()`, `retrieve_response()`)."""

    @property
    def id(self) -> str:
        """Response id."""
    @property
    def object(self) -> str:
        """Always `response`."""
    @property
    def created_at(self) -> int:
        """Unix time of creation."""
    @property
    def status(self) -> str:
        """`completed`, `failed`, `in_progress`, `queued`, `cancelled` or `incomplete`."""
    @property
    def model(self) -> str:
        """Model that answered."""
    @property
    def output(self) -> list[ResponseOutputItem]:
        """Output items."""
    @property
    def usage(self) -> ResponseUsage | None:
        """Token usage."""
    @property
    def error(self) -> dict[str, Any] | None:
        """The error, when `status` is `failed`."""
    @property
    def incomplete_details(self) -> dict[str, Any] | None:
        """Why the response is incomplete, when it is (e.g. `{"reason": "max_output_tokens"}`)."""
    @property
    def output_text(self) -> str:
        """Every `output_text` part of every message, concatenated (as the openai SDK's `output_text`)."""
    def __getitem__(self, key: str, /) -> Any:
        """A field by its JSON name, as in the dict the seed API returned (`KeyError` if absent)."""
    def get(self, key: str, default: Any = None) -> Any:
        """A field by its JSON name, or `default`."""
    def keys(self) -> list[str]:
        """The JSON field names, so `dict(obj)` works."""

# ----- errors -----

class LlmError(Exception):
    """Base class for all liter_llm errors."""

    status_code: int | None
    """HTTP status, or None when no response was received."""
    body: Any
    """The provider's parsed error object, or its raw text."""
    request_id: str | None
    """The provider's request id (x-request-id / request-id header)."""
    provider: str | None
    """Provider name."""
    model: str | None
    """Model of the failed request."""
    retry_after: float | None
    """Seconds the provider asked us to wait, when it said."""

class AuthenticationError(LlmError):
    """The API key was rejected (HTTP 401/403) or is missing."""

class RateLimitedError(LlmError):
    """Rate limit exceeded (HTTP 429)."""

class BadRequestError(LlmError):
    """The provider rejected the request (HTTP 400, 422, other 4xx)."""

class ContextWindowExceededError(BadRequestError):
    """The prompt exceeds the model's context window."""

class ContentPolicyError(BadRequestError):
    """The provider refused the content."""

class NotFoundError(LlmError):
    """Model or resource not found (HTTP 404)."""

class ServerError(LlmError):
    """Provider error (HTTP 500 and unlisted 5xx)."""

class ServiceUnavailableError(LlmError):
    """Provider temporarily unavailable (HTTP 502/503/504/529)."""

class LlmTimeoutError(LlmError):
    """The request timed out."""

class NetworkError(LlmError):
    """Network-level failure (connection refused or reset, DNS)."""

class StreamingError(LlmError):
    """The stream broke before its end."""

class EndpointNotSupportedError(LlmError):
    """The provider does not support the endpoint."""

class InvalidHeaderError(LlmError):
    """A header name or value is invalid."""

class SerializationError(LlmError):
    """A body could not be serialised or parsed."""

class ResponseTooLargeError(LlmError):
    """A server sent more than a size limit allows (max_response_bytes, max_download_bytes, max_stream_event_bytes)."""

class RequestCancelledError(LlmError):
    """The request never ran: its provider batch job was cancelled first."""

# ----- mock provider (liter_llm.testing) -----

@final
class MockServer:
    """An OpenAI-compatible mock LLM server running inside this process on 127.0.0.1.

    It starts listening when constructed and serves ``POST /v1/chat/completions`` (also
    ``/chat/completions``), plain and streamed (``"stream": true``, with
    ``stream_options.include_usage``, ``n`` and ``max_tokens``/``max_completion_tokens``
    truncation), plus ``GET /v1/models``. Other paths answer 404 with an OpenAI error body. The
    reply is ``reply`` when given, else an echo of the last user message. Every response has an
    ``x-request-id`` header.

    Chat answers also follow ``logprobs``/``top_logprobs`` (deterministic log probabilities of
    the reply's tokens, 0 to 20 alternatives) and ``response_format``: a ``json_schema`` is
    answered with a minimal valid instance of the schema (``json_object`` with
    ``{"message": <echo>}``) unless ``reply`` or a fault sets the text, so ``message.parsed`` can
    be tested offline. Models whose name contains ``reasoner`` or ``thinking`` also return
    ``reasoning_content`` (streamed first) and count its reasoning tokens.

    A model that calls tools, for agent loops: when a request has ``tools``, each line
    ``call:NAME {json}`` of the last user message (or of the tool results that end the
    conversation) is answered as a call of that tool with those arguments (``tool_calls``,
    streamed too; Anthropic's route answers the first such line, Gemini's a last user message
    that starts with one), and tool results are answered by echoing them, one per line; a tool
    result that is itself a ``call:`` line asks again.

    It also serves ``POST /v1/embeddings``: ``input`` as a str, a list of str, token ids or
    token-id lists; one deterministic unit vector per input, derived from its text (length
    ``dimensions``, default 1536), as JSON floats or, with ``encoding_format="base64"``,
    little-endian float32 in base64; usage counts the input tokens. More than
    ``max_embedding_inputs`` inputs, an empty input or a bad ``encoding_format`` is a 400.

    The rest of the OpenAI surface answers with bodies of the documented shapes:
    ``GET /v1/models``; ``POST /v1/images/generations`` (``url`` or ``b64_json`` images, a
    ``revised_prompt`` for dall-e-3, ``usage`` for gpt-image models); ``POST /v1/audio/speech``
    (audio bytes with a real WAV/MP3/FLAC/Ogg header, sized from the input);
    ``POST /v1/audio/transcriptions`` (multipart; ``json``, ``verbose_json`` with segments and, with
    ``timestamp_granularities[]=word``, words; ``text``, ``srt`` and ``vtt`` as plain text);
    ``POST /v1/moderations`` (every category with a score; words such as "kill" or "hate" flag
    theirs); ``POST /v1/rerank`` (Cohere/Jina format, scored by word overlap); an in-memory file
    store (``/v1/files`` create, list, retrieve, delete, content); batches (``/v1/batches`` create,
    list, retrieve, cancel) that move one state per retrieval, ``validating`` -> ``in_progress``
    -> ``finalizing`` -> ``completed`` (with ``batch_delay_ms``: ``in_progress`` until that much
    time passed) with an output file of answers (or ``cancelling`` -> ``cancelled``), where a
    chat request whose last user message starts with ``fail:`` fails, into the error file;
    Anthropic's Message Batches (``/v1/messages/batches`` create, list, retrieve, cancel,
    results: ``in_progress`` until the first retrieval or ``batch_delay_ms``, then ``ended``
    with one result line per request, ``errored`` for refused or ``fail:`` requests,
    ``canceled`` after a cancellation); and the Responses API (``/v1/responses`` create,
    retrieve, cancel; reasoning items for reasoning models, a ``function_call`` when function
    tools are given, ``background`` responses that progress per retrieval). Missing required
    parameters are 400s and unknown ids 404s, with OpenAI error bodies. Faults apply to every
    endpoint. :meth:`reset` also clears the stored files, batches and responses.

    Use it as a context manager, or call :meth:`close`; it also closes when garbage collected.

    Args:
        reply: Fixed reply text; ``None`` echoes the last user message.
        latency_ms: Delay before the response headers of chat requests.
        chunk_delay_ms: Delay between stream events.
        stream_chunks: An int splits streamed replies into exactly that many content chunks of
            nearly equal length (empty ones when the reply is shorter). A list of str makes the
            reply their concatenation, streamed as exactly those pieces (a fault's ``reply`` still
            wins). Default: one chunk per word, whitespace kept with the following word.
        port: Port to bind; 0 picks a free port.
        record: Keep a log of requests for :meth:`requests` (``request_count`` counts anyway).
        max_embedding_inputs: Most inputs one embeddings request may carry (default 2048, as
            OpenAI); more is answered with a 400.
        batch_delay_ms: How long batches (OpenAI and Anthropic) take to complete after their
            creation; ``None`` moves them one state per retrieval.

    Raises:
        ValueError: A negative or non-finite delay, ``stream_chunks`` < 1 or an empty list, a port
            outside 0..65535.
        TypeError: An argument of the wrong type.
        OSError: The port cannot be bound (e.g. already in use).
    """

    def __new__(
        cls,
        *,
        reply: str | None = None,
        latency_ms: float = 0.0,
        chunk_delay_ms: float = 0.0,
        stream_chunks: int | Sequence[str] | None = None,
        port: int = 0,
        record: bool = True,
        max_embedding_inputs: int = 2048,
        batch_delay_ms: float | None = None,
    ) -> Self: ...
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:{port}/v1``: the OpenAI base URL to give to a client."""
    @property
    def port(self) -> int:
        """The bound port."""
    @property
    def request_count(self) -> int:
        """Requests received (any path, faults included) since start or the last :meth:`reset`."""
    @property
    def pending_faults(self) -> int:
        """Faults queued by :meth:`push_faults` and not consumed yet."""
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
    def requests(self) -> list[dict[str, Any]]:
        """The recorded requests, oldest first (empty when ``record=False``).

        Each dict has ``"method"`` (str), ``"path"`` (str, without the query), ``"query"``
        (str | None), ``"headers"`` (dict[str, str], lowercase names, repeated headers joined with
        ``", "``), ``"body"`` (bytes), ``"json"`` (the parsed body, or None when it is not JSON) and
        ``"received_at"`` (float, seconds since the server started) and ``"form"`` (for a
        ``multipart/form-data`` body, a list of parts, each a dict with ``"name"``, ``"filename"``
        (str | None), ``"content_type"`` (str | None) and ``"data"`` (bytes); else None).
        """
    def push_faults(self, faults: Sequence[dict[str, Any]]) -> None:
        """Queues faults; each request consumes the oldest one (FIFO), then serving is normal.

        Fault keys (all optional):

        * ``status`` (int, 200..599): answer with this status. >= 400 sends ``body`` or a realistic
          OpenAI error body for the status (429 ``rate_limit_exceeded``, 401 ``invalid_api_key``,
          500 ``server_error``, 503 ``overloaded``...). < 400 serves normally with that status.
        * ``body`` (dict | list | str): send this body instead (dicts as JSON, str as plain text).
        * ``headers`` (dict[str, str] | list[tuple[str, str]]): extra response headers.
        * ``retry_after`` (float seconds) / ``retry_after_ms`` (int): ``Retry-After`` /
          ``retry-after-ms`` headers.
        * ``delay_ms`` (float): wait before the response headers (added to ``latency_ms``).
        * ``cut_after`` (int): stream: drop the connection after N content chunks, without
          ``[DONE]``; non-stream: send the headers and half the body, then drop the connection.
        * ``malformed`` (bool): 200 with a body that is not valid JSON; a stream gets one broken
          ``data:`` line right after the role chunk and then continues.
        * ``error_event`` (dict | str): stream only: after ``cut_after`` (default 0) content chunks
          send ``data: {"error": ...}`` and end the stream without ``[DONE]``; a str becomes the
          error message.
        * ``reply`` (str): reply text for this request.

        Raises:
            ValueError: An unknown key or a bad value (status out of range, negative number,
                invalid header).
            TypeError: ``faults`` is not a list of dicts, or a value has the wrong type.
        """
    def reset(self) -> None:
        """Clears the request log, the request count, the queued faults and the stored files, batches and responses."""
    def close(self) -> None:
        """Stops accepting connections and drops the open ones. Idempotent."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

def serve_mock(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    reply: str | None = None,
    latency_ms: float = 0.0,
    chunk_delay_ms: float = 0.0,
    stream_chunks: int | Sequence[str] | None = None,
    record: bool = True,
    ready: Callable[[str], object] | None = None,
    max_embedding_inputs: int = 2048,
) -> None:
    """Runs a mock server (same options as :class:`MockServer`, plus ``host``) until interrupted.

    Calls ``ready(base_url)`` once the server is listening, then blocks with the GIL released,
    checking for signals every 100 ms. Returns by raising whatever a signal handler raises
    (``KeyboardInterrupt`` on Ctrl-C); the server is closed first. Re-exported as
    ``liter_llm.testing.serve``.

    Raises:
        ValueError: Bad options.
        OSError: The address cannot be bound.
    """

# ----- callbacks -----

@final
class Attempt:
    """One HTTP attempt of a call, as callbacks see it."""

    @property
    def deployment(self) -> str | None:
        """The deployment it went to (routed calls)."""
    @property
    def provider(self) -> str | None:
        """The provider it went to."""
    @property
    def model(self) -> str:
        """The model it asked for."""
    @property
    def start_time(self) -> float:
        """When it was sent (Unix seconds)."""
    @property
    def end_time(self) -> float:
        """When its answer (or failure) arrived (Unix seconds)."""
    @property
    def error(self) -> LlmError | None:
        """Why it failed; None for the attempt that answered."""

@final
class CallEvent:
    """What callbacks receive once per call."""

    @property
    def endpoint(self) -> str:
        """`chat`, `embeddings`, ..."""
    @property
    def stream(self) -> bool:
        """Whether the call streamed."""
    @property
    def group(self) -> str | None:
        """The routed group the model named, if any."""
    @property
    def deployment(self) -> str | None:
        """The deployment of the last attempt (routed calls)."""
    @property
    def provider(self) -> str | None:
        """The provider of the last attempt."""
    @property
    def model(self) -> str:
        """The model as asked for."""
    @property
    def response_model(self) -> str | None:
        """The model the provider reported."""
    @property
    def request_id(self) -> str | None:
        """The provider's request id."""
    @property
    def start_time(self) -> float:
        """When the call started (Unix seconds)."""
    @property
    def end_time(self) -> float:
        """When it ended (Unix seconds)."""
    @property
    def latency(self) -> float:
        """Its duration in seconds."""
    @property
    def ttft(self) -> float | None:
        """Time to the first chunk in seconds (streams)."""
    @property
    def prompt_tokens(self) -> int | None:
        """Prompt tokens, when reported."""
    @property
    def completion_tokens(self) -> int | None:
        """Completion tokens, when reported."""
    @property
    def total_tokens(self) -> int | None:
        """Total tokens, when reported."""
    @property
    def cost(self) -> float | None:
        """Cost in USD, when priced."""
    @property
    def finish_reasons(self) -> list[str]:
        """The choices' finish reasons."""
    @property
    def attempts(self) -> list[Attempt]:
        """Every attempt, in order; the one that answered last."""
    @property
    def error(self) -> LlmError | None:
        """The failure, for `on_failure`."""
    @property
    def metadata(self) -> dict[str, Any] | None:
        """The call's `metadata=`."""
    @property
    def response(self) -> Any:
        """The response (chat, embeddings); None for streams and failures."""
    @property
    def success(self) -> bool:
        """Whether the call succeeded."""
    @property
    def cache_hit(self) -> bool:
        """Whether the response cache answered (no provider call was made)."""
