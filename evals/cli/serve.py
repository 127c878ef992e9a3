"""``evals serve``: run the local Runware-compatible server in the foreground until Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from evals.errors import ConfigError
from evals.model_spec import DEFAULT_MODEL


def _load_sim_options(value: str | None) -> dict[str, Any] | None:
    """``--sim`` is inline JSON or the path of a JSON/YAML file with the sim options."""
    if value is None:
        return None
    text = Path(value).read_text(encoding="utf-8") if Path(value).is_file() else value
    try:
        import yaml

        loaded = yaml.safe_load(text)  # YAML is a superset of JSON
    except Exception as exc:
        raise ConfigError(f"--sim: cannot parse {value!r}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError("--sim must be a mapping of sim options (JSON or YAML, inline or a file)")
    return loaded


def _check_smollm2() -> None:
    """Fail with one line, before binding, when the local model cannot run here."""
    import importlib.util

    from runners.server.engines.smollm2 import model_path

    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigError("engine smollm2 needs llama-cpp-python: pip install 'evals-harness[local]'")
    try:
        model_path()
    except RuntimeError as exc:
        raise ConfigError(str(exc)) from exc


@click.command()
@click.option("--engine", type=click.Choice(["smollm2", "sim"]), default="smollm2", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (loopback by default).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8787, show_default=True, help="0 picks a free port."
)
@click.option("--api-key", envvar="EVALS_SERVER_API_KEY", default=None, help="Require this bearer key.")
@click.option(
    "--model-alias", default=DEFAULT_MODEL, show_default=True, help="Model id the server answers to."
)
@click.option("--queue-size", type=click.IntRange(1), default=64, show_default=True, help="429 beyond this.")
@click.option("--sim", "sim", default=None, help="Sim engine options: inline JSON/YAML or a file.")
@click.option(
    "--threads", type=click.IntRange(1), default=1, show_default=True, help="llama.cpp CPU threads."
)
@click.option("--log-level", default="info", show_default=True)
def serve(
    engine: str,
    host: str,
    port: int,
    api_key: str | None,
    model_alias: str,
    queue_size: int,
    sim: str | None,
    threads: int,
    log_level: str,
) -> None:
    """Serve the Runware protocol (POST /v1) and an OpenAI-compatible door on a local engine."""
    import uvicorn

    from runners.server.background import bind_socket
    from runners.server.config import ServerConfig

    config = ServerConfig(
        engine=engine,  # type: ignore[arg-type]
        host=host,
        port=port,
        api_key=api_key,
        model_alias=model_alias,
        queue_size=queue_size,
        sim=_load_sim_options(sim),
        n_threads=threads,
    )
    from runners.server.app import build_app

    config.sim_options  # noqa: B018 - validate the options before binding the port
    if engine == "smollm2":
        _check_smollm2()
    try:
        sock = bind_socket(config)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
    bound_host, bound_port = sock.getsockname()[:2]
    base = f"http://{bound_host}:{bound_port}"
    click.echo(f"engine {engine}, model {model_alias}")
    click.echo(f"Runware endpoint:  {base}/v1")
    click.echo(f"OpenAI-compatible: {base}/v1/chat/completions")
    click.echo(json.dumps({"url": f"{base}/v1"}))
    click.echo("Ctrl-C stops the server.")
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(config),
            log_level=log_level,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,  # Ctrl-C does not wait on a stalled stream for ever
        )
    )
    try:
        server.run(sockets=[sock])  # uvicorn handles Ctrl-C: stops accepting, finishes, then re-raises
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a server is meant to stop: a clean exit, code 0
    finally:
        sock.close()
    if not server.started:
        raise ConfigError("the server did not start (see the log above)")
    click.echo("server stopped")
