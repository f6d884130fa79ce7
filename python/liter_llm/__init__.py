"""liter_llm: a fast async LLM client with a Rust core.

One immutable `LlmClient` for chat and streaming, typed responses shaped like the openai SDK,
one exception hierarchy, and retries that respect the provider.
"""

from liter_llm._liter_llm import (
    AssistantMessage,
    AuthenticationError,
    BadRequestError,
    ChatBatchIterator,
    ChatCompletionChunk,
    ChatCompletionResponse,
    ChatStreamIterator,
    Choice,
    ChoiceLogprobs,
    CompletionTokensDetails,
    ContentPolicyError,
    ContextWindowExceededError,
    EmbeddingObject,
    EmbeddingResponse,
    EndpointNotSupportedError,
    FunctionCall,
    FunctionCallDelta,
    InvalidHeaderError,
    LlmClient,
    LlmError,
    LlmTimeoutError,
    NetworkError,
    NotFoundError,
    PromptTokensDetails,
    RateLimitedError,
    RateLimiter,
    SerializationError,
    ServerError,
    ServiceUnavailableError,
    StreamChoice,
    StreamDelta,
    StreamingError,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    TopLogprob,
    Usage,
    UsageTracker,
    __version__,
    completion_cost,
    count_tokens,
    model_info,
    register_model,
    sanitize_request,
)

TYPE_CHECKING = False  # the typing module is not imported at run time: it would double the import time
if TYPE_CHECKING:
    from liter_llm._schema import to_response_format
    from liter_llm.content import audio_part, data_url, file_part, image_part, text_part
    from liter_llm.tools import function_tool

# The pure-Python helpers load on first use, so `import liter_llm` stays as fast as the native module.
_HELPERS = {
    "to_response_format": "liter_llm._schema",
    "audio_part": "liter_llm.content",
    "data_url": "liter_llm.content",
    "file_part": "liter_llm.content",
    "image_part": "liter_llm.content",
    "text_part": "liter_llm.content",
    "function_tool": "liter_llm.tools",
}


def __getattr__(name: str) -> object:
    from importlib import import_module

    module = _HELPERS.get(name)
    if module is None:
        raise AttributeError(f"module 'liter_llm' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AssistantMessage",
    "AuthenticationError",
    "BadRequestError",
    "ChatBatchIterator",
    "ChatCompletionChunk",
    "ChatCompletionResponse",
    "ChatStreamIterator",
    "Choice",
    "ChoiceLogprobs",
    "CompletionTokensDetails",
    "ContentPolicyError",
    "ContextWindowExceededError",
    "EmbeddingObject",
    "EmbeddingResponse",
    "EndpointNotSupportedError",
    "FunctionCall",
    "FunctionCallDelta",
    "InvalidHeaderError",
    "LlmClient",
    "LlmError",
    "LlmTimeoutError",
    "NetworkError",
    "NotFoundError",
    "PromptTokensDetails",
    "RateLimitedError",
    "RateLimiter",
    "SerializationError",
    "ServerError",
    "ServiceUnavailableError",
    "StreamChoice",
    "StreamDelta",
    "StreamingError",
    "TokenLogprob",
    "ToolCall",
    "ToolCallDelta",
    "TopLogprob",
    "Usage",
    "UsageTracker",
    "audio_part",
    "completion_cost",
    "count_tokens",
    "data_url",
    "file_part",
    "function_tool",
    "image_part",
    "model_info",
    "register_model",
    "sanitize_request",
    "text_part",
    "to_response_format",
    "__version__",
]
