"""The Runware wire contract on the server side: parsing and validating task objects, error envelopes.

Bounds come from the model spec file (``evals.model_spec``), so the server refuses exactly what the
harness's suite validator refuses. Every refusal is a ``ProtocolError`` carrying the HTTP status, a
Runware-style error code and, when one parameter is to blame, its name.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from evals.model_spec import DEFAULT_MODEL, ModelSpec, get_spec, load_spec, short_repr

TASK_KEYS = frozenset(
    {
        "taskType",
        "taskUUID",
        "model",
        "messages",
        "seed",
        "numberResults",
        "deliveryMethod",
        "webhookURL",
        "includeCost",
        "includeUsage",
        "inputs",
        "settings",
    }
)
SEED_MODULUS = 2**32
MAX_ECHO = 100
"""Longest client string (a parameter name, a taskType, a taskUUID) echoed back in an error item."""

# The same bounded repr the model spec's messages use, so a client value is quoted alike everywhere.
short = short_repr


def echo(value: Any) -> str | None:
    """``value`` when it is a string short enough to echo in an error item's field, else None."""
    return value if isinstance(value, str) and len(value) <= MAX_ECHO else None


def clip(name: str) -> str:
    """A client-given parameter name, cut to ``MAX_ECHO`` characters for an error item."""
    return name if len(name) <= MAX_ECHO else name[:MAX_ECHO] + "..."


@dataclass(eq=False)  # exceptions compare and hash by identity
class ProtocolError(Exception):
    """A refusal the server answers with the errors envelope and ``status``."""

    status: int
    code: str
    message: str
    parameter: str | None = None
    task_type: str | None = None
    task_uuid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def item(self) -> dict[str, Any]:
        """The error object of the ``errors`` array."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.parameter is not None:
            out["parameter"] = self.parameter
        if self.task_type is not None:
            out["taskType"] = self.task_type
        if self.task_uuid is not None:
            out["taskUUID"] = self.task_uuid
        out.update(self.extra)
        return out


def errors_envelope(errors: list[ProtocolError]) -> dict[str, Any]:
    return {"errors": [e.item() for e in errors]}


@dataclass(frozen=True)
class InferenceTask:
    """A validated textInference task, with the spec's defaults applied to its settings."""

    task_uuid: str  # exactly as the client sent it: every answer echoes this form
    model: str
    messages: tuple[dict[str, str], ...]
    seed: int
    number_results: int
    delivery_method: str
    webhook_url: str | None
    include_cost: bool
    include_usage: bool
    settings: dict[str, Any]
    key: str = ""  # the canonical (lowercase, hyphenated) UUID: the server's internal key

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.task_uuid)

    def result_seed(self, index: int) -> int:
        """Seed of result ``index``: the task's seed, then the following integers (mod 2**32)."""
        return (self.seed + index) % SEED_MODULUS

    @property
    def system_prompt(self) -> str | None:
        value = self.settings.get("systemPrompt")
        return value if isinstance(value, str) else None


def spec_for(model_alias: str) -> ModelSpec:
    """The spec whose bounds and price the server applies: the alias's own, else Qwen3.5-27B's."""
    return get_spec(model_alias) or load_spec(DEFAULT_MODEL)


def _bad(
    code: str, message: str, parameter: str | None, task_uuid: str | None, task_type: str
) -> ProtocolError:
    return ProtocolError(400, code, message, parameter, task_type, task_uuid)


def check_uuid(value: Any, task_type: str) -> str:
    """``value`` as a canonical UUID string (the internal key), or a 400 naming ``taskUUID``.

    Answers echo the taskUUID exactly as sent; only the server's own bookkeeping uses this form."""
    if value is None:
        raise _bad("missingParameter", "taskUUID is required", "taskUUID", None, task_type)
    try:
        parsed = uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.version != 4:
        raise _bad(
            "invalidTaskUUID",
            f"taskUUID must be a UUID v4 string, got {short(value)}",
            "taskUUID",
            None,
            task_type,
        )
    return str(parsed)


def parse_text_inference(obj: dict[str, Any], spec: ModelSpec, model_alias: str) -> InferenceTask:
    """Validate one ``textInference`` task object; raise ``ProtocolError`` naming the first bad parameter."""
    task_type = "textInference"
    key = check_uuid(obj.get("taskUUID"), task_type)
    task_uuid: str = obj["taskUUID"]  # a valid UUID string, echoed as sent

    def bad(code: str, message: str, parameter: str | None) -> ProtocolError:
        return _bad(code, message, parameter, task_uuid, task_type)

    for key in sorted(set(obj) - TASK_KEYS):
        raise bad("unsupportedParameter", f"unknown parameter {short(key)}", clip(key))

    model = obj.get("model")
    if model is None:
        raise bad("missingParameter", "model is required", "model")
    if model != model_alias:
        raise bad(
            "invalidModel",
            f"model {short(model)} is not served here; this server serves {model_alias!r}",
            "model",
        )

    messages = _check_messages(obj.get("messages"), bad)

    values: dict[str, Any] = {}
    for name, param in spec.task.items():
        if name in obj:
            if (reason := param.check(obj[name])) is not None:
                raise bad("invalidParameter", f"{name}: {reason}", name)
            values[name] = obj[name]
        elif param.default is not None:
            values[name] = param.default
    seed = values.get("seed")
    if seed is None:
        seed = secrets.randbelow(SEED_MODULUS)  # Runware's default: a random uint32
    number_results = int(values.get("numberResults", 1))
    delivery = str(values.get("deliveryMethod", "sync"))
    if delivery == "stream" and number_results > 1:
        raise bad(
            "invalidParameter",
            "numberResults > 1 cannot be streamed (stream chunks carry no result index); use sync or async",
            "numberResults",
        )

    flags: dict[str, bool] = {}
    for name in ("includeCost", "includeUsage"):
        value = obj.get(name, False)
        if not isinstance(value, bool):
            raise bad(
                "invalidParameter", f"{name}: {short(value)} is not allowed: expected true or false", name
            )
        flags[name] = value

    webhook = obj.get("webhookURL")
    if webhook is not None:
        try:
            parts = urlsplit(webhook) if isinstance(webhook, str) else None
            ok = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
            if ok and parts is not None:
                _ = parts.port  # an out-of-range or non-numeric port raises ValueError here
        except ValueError:  # e.g. "http://[::1": an unclosed IPv6 bracket
            ok = False
        if not ok:
            raise bad("invalidParameter", f"webhookURL: {short(webhook)} is not an http(s) URL", "webhookURL")

    inputs = obj.get("inputs")
    if inputs is not None and not isinstance(inputs, dict):
        raise bad("invalidParameter", "inputs must be an object", "inputs")

    settings = _check_settings(obj.get("settings", {}), spec, bad)
    return InferenceTask(
        task_uuid=task_uuid,
        model=model,
        messages=messages,
        seed=seed,
        number_results=number_results,
        delivery_method=delivery,
        webhook_url=webhook,
        include_cost=flags["includeCost"],
        include_usage=flags["includeUsage"],
        settings=settings,
        key=key,
    )


def _check_messages(value: Any, bad: Any) -> tuple[dict[str, str], ...]:
    if value is None:
        raise bad("missingParameter", "messages is required", "messages")
    if not isinstance(value, list) or not value:
        raise bad("invalidParameter", "messages must be a non-empty array", "messages")
    out: list[dict[str, str]] = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise bad("invalidParameter", f"{where} must be an object with exactly role and content", where)
        if message["role"] not in ("user", "assistant"):
            raise bad(
                "invalidParameter",
                f"{where}.role must be user or assistant (the system prompt goes in settings.systemPrompt)",
                f"{where}.role",
            )
        if not isinstance(message["content"], str):
            raise bad("invalidParameter", f"{where}.content must be a string", f"{where}.content")
        out.append({"role": message["role"], "content": message["content"]})
    if out[-1]["role"] != "user":
        raise bad(
            "invalidParameter", "the last message must have role user", f"messages[{len(out) - 1}].role"
        )
    return tuple(out)


def _check_settings(value: Any, spec: ModelSpec, bad: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad("invalidParameter", "settings must be an object", "settings")
    for key in sorted(set(value) - set(spec.settings)):
        raise bad("unsupportedParameter", f"unknown setting {short(key)}", f"settings.{clip(key)}")
    settings = spec.setting_defaults()
    for name, given in value.items():
        if (reason := spec.settings[name].check(given)) is not None:
            raise bad("invalidParameter", f"settings.{name}: {reason}", f"settings.{name}")
        settings[name] = given
    return settings


def parse_get_response(obj: dict[str, Any]) -> str:
    """Validate one ``getResponse`` task object and return the taskUUID it asks about."""
    for key in sorted(set(obj) - {"taskType", "taskUUID"}):
        raise ProtocolError(
            400, "unsupportedParameter", f"unknown parameter {short(key)}", clip(key), "getResponse"
        )
    return check_uuid(obj.get("taskUUID"), "getResponse")
