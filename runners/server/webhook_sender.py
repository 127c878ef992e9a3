"""POST each finished result to its task's ``webhookURL``, retrying with backoff as Runware does."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httpx

log = logging.getLogger(__name__)


class WebhookSender:
    """Delivers result items as flat task objects (no ``data`` wrapper). Owns one HTTP client."""

    def __init__(self, retries: int = 4, backoff: float = 0.25, timeout: float = 5.0) -> None:
        self.retries = retries
        self.backoff = backoff
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def deliver(self, url: str, item: dict[str, Any], on_attempt: Any = None) -> bool:
        """POST ``item`` to ``url`` until a 2xx answer or the retries run out; True when delivered.

        ``on_attempt`` (if given) is called before each POST, so the server can count deliveries.
        """
        for attempt in range(self.retries + 1):
            if attempt:
                await anyio.sleep(self.backoff * 2 ** (attempt - 1))
            if on_attempt is not None:
                on_attempt()
            try:
                response = await self._client.post(url, json=item)
            except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
                log.info("webhook POST failed (%s), attempt %d", type(exc).__name__, attempt + 1)
                continue
            if response.is_success:
                return True
            log.info("webhook answered %d, attempt %d", response.status_code, attempt + 1)
        return False
