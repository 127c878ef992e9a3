"""Execute: providers (Runware, OpenAI-compatible, local), the local server, concurrency, retries."""
