"""Execute: providers (Runware, OpenAI-compatible, local), the local server, concurrency, retries.

The public face is the run loop (``run_suite`` and its synchronous wrapper) with its options and
summary; providers and the local server have their own subpackages (``runners.providers``,
``runners.server``).
"""

from runners.runner import RunOptions, RunSummary, print_summary, run_suite, run_suite_sync

__all__ = ["RunOptions", "RunSummary", "print_summary", "run_suite", "run_suite_sync"]
