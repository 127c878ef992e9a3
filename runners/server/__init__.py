"""The local Runware-compatible server: a real small model (``smollm2``) or a seeded simulator (``sim``).

with serve_in_background(ServerConfig(engine="sim")) as handle:
    httpx.post(handle.url, json=[{...textInference task...}])
"""

from __future__ import annotations

from runners.server.background import ServerHandle, serve_async, serve_in_background
from runners.server.config import FAULT_KINDS, ServerConfig, SimOptions

__all__ = ["FAULT_KINDS", "ServerConfig", "ServerHandle", "SimOptions", "serve_async", "serve_in_background"]
