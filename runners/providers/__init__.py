"""Provider clients: Runware's native API, OpenAI-compatible servers, and the embedded server."""

from runners.providers.factory import open_provider
from runners.providers.local import LocalProvider
from runners.providers.openai_compat import OpenAICompatProvider
from runners.providers.runware import DEFAULT_ENDPOINT, RunwareProvider

__all__ = [
    "DEFAULT_ENDPOINT",
    "LocalProvider",
    "OpenAICompatProvider",
    "RunwareProvider",
    "open_provider",
]
