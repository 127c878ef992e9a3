"""``open_provider``: the one place that turns a suite's ``target`` into a provider client."""

from __future__ import annotations

from evals.errors import ConfigError
from evals.suite import Target
from runners.credentials import load_api_key
from runners.provider import Provider
from runners.providers.local import LocalProvider
from runners.providers.openai_compat import OpenAICompatProvider
from runners.providers.runware import RunwareProvider


def open_provider(target: Target, *, api_key: str | None = None) -> Provider:
    """The provider for ``target``, to be used as ``async with open_provider(target) as provider:``.

    * ``runware``: the key comes from ``api_key``, else ``RUNWARE_API_KEY`` in the environment or
      ``./.env``; a missing key is a ``ConfigError`` before anything is sent.
    * ``openai``: ``target.endpoint`` is required; ``OPENAI_API_KEY`` (environment or ``./.env``) is
      sent when present, since most self-hosted servers need none.
    * ``local`` / ``sim``: the embedded server starts on enter and stops on exit.
    """
    if target.provider == "runware":
        key = api_key or load_api_key("RUNWARE_API_KEY")
        if not key:
            raise ConfigError(
                "RUNWARE_API_KEY is not set: export it or put it in a .env file in the current directory"
            )
        return RunwareProvider.from_target(target, api_key=key)
    if target.provider == "openai":
        return OpenAICompatProvider.from_target(target, api_key=api_key or load_api_key("OPENAI_API_KEY"))
    if target.provider in ("local", "sim"):
        return LocalProvider(target)
    raise ConfigError(f"unknown provider {target.provider!r}")
