"""The Ollama backend: model tags, presence checks and ``ChatOllama`` construction.

Each specialist is served by an Ollama model built from its Modelfile and tagged
``slm-dispatch/<specialist>:<content hash>``, so a changed Modelfile names a new
model and a stale one is never used by mistake.

``ChatOllama`` already honours ``invoke(messages, format=<schema dict or "json">)``
(``format`` is popped from the call's keywords in ``ChatOllama._chat_params``); the
thin subclass here only makes stop sequences behave like the embedded backend's.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from langchain_core.messages import BaseMessage
from langchain_ollama import ChatOllama
from pydantic import Field

from runtime.embedded import grammar_stops
from runtime.modelfile import Modelfile

__all__ = [
    "DEFAULT_OLLAMA_HOST",
    "DispatchChatOllama",
    "model_tag",
    "normalize_host",
    "ollama_chat_model",
    "ollama_has_model",
]

logger = logging.getLogger(__name__)

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
"""Where Ollama listens unless ``OLLAMA_HOST`` says otherwise."""

_DEFAULT_PORT = 11434

# Modelfile PARAMETERs that ChatOllama has a field of the same name for.
_CHAT_OLLAMA_OPTIONS = (
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "num_ctx",
    "num_gpu",
    "num_thread",
    "num_predict",
    "repeat_last_n",
    "repeat_penalty",
    "temperature",
    "seed",
    "tfs_z",
    "top_k",
    "top_p",
)


def normalize_host(host: str) -> str:
    """Return ``host`` as a URL: add ``http://`` and port 11434 where missing.

    ``0.0.0.0`` (a bind address, as often found in ``OLLAMA_HOST``) becomes ``127.0.0.1``.

    Args:
        host: ``http://host:port``, ``host:port``, ``host`` or ``:port``.

    Raises:
        ValueError: If ``host`` is empty.
    """
    text = host.strip()
    if not text:
        raise ValueError("empty Ollama host")
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    hostname = parts.hostname or "127.0.0.1"
    if hostname == "0.0.0.0":
        hostname = "127.0.0.1"
    if ":" in hostname:  # IPv6 literal
        hostname = f"[{hostname}]"
    port = parts.port or (_DEFAULT_PORT if parts.scheme == "http" else None)
    netloc = f"{hostname}:{port}" if port else hostname
    if parts.username:
        credentials = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{credentials}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def model_tag(specialist: str, modelfile: Modelfile) -> str:
    """Return the Ollama tag of a specialist's model: ``slm-dispatch/<name>:<hash>``."""
    return f"slm-dispatch/{specialist}:{modelfile.content_hash()}"


def ollama_has_model(host: str, tag: str, timeout_s: float = 1.0) -> bool:
    """Return whether the Ollama server at ``host`` has the model ``tag``.

    Returns ``False`` (never raises) when the server does not answer within
    ``timeout_s``, answers with an error, or does not know the tag.
    """
    import httpx
    import pydantic

    import ollama

    client = ollama.Client(host=normalize_host(host), timeout=timeout_s)
    try:
        client.show(tag)
    except pydantic.ValidationError:
        # The server answered 200 but with fewer fields than the client's model wants
        # (a stand-in or an older Ollama): it has the model all the same.
        logger.debug("Ollama at %s has %s (partial /api/show answer)", host, tag)
    except ollama.ResponseError as error:
        if error.status_code != 404:
            logger.warning("Ollama at %s answered %s for %s", host, error.status_code, tag)
        return False
    except (ConnectionError, httpx.HTTPError, OSError) as error:
        logger.debug("Ollama at %s does not answer: %s", host, error)
        return False
    return True


class DispatchChatOllama(ChatOllama):
    """``ChatOllama`` whose stop sequences behave like the embedded model's.

    The Modelfile's stops are kept in :attr:`default_stop` and merged with any passed
    to ``invoke`` (plain ``ChatOllama`` raises when both are given). While ``format``
    constrains the output only special-token stops (``<|…|>``) are sent: a request's
    stop list replaces the model's, so a Modelfile stop such as ``";"`` cannot cut a
    JSON string that contains it.
    """

    default_stop: list[str] = Field(default_factory=list)
    """Stop sequences from the Modelfile."""

    def _chat_params(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        merged = list(dict.fromkeys([*self.default_stop, *(stop or [])]))
        if kwargs.get("format", self.format):
            merged = grammar_stops(merged)
        return super()._chat_params(messages, merged or None, **kwargs)


def ollama_chat_model(
    specialist: str,
    modelfile: Modelfile,
    host: str,
    *,
    keep_alive: str | int = "10m",
) -> DispatchChatOllama:
    """Return a chat model for a specialist served by the Ollama at ``host``.

    The model is ``model_tag(specialist, modelfile)``; the Modelfile's parameters
    (temperature, num_ctx, num_predict, stop, …) are sent with every request too.
    Call ``invoke(messages, format=schema_dict)`` for structured output.

    Args:
        specialist: The specialist's name.
        modelfile: Its parsed Modelfile.
        host: The Ollama server (``http://host:port`` or ``host:port``).
        keep_alive: How long Ollama keeps the model loaded after a request.
    """
    options = {
        name: modelfile.parameters[name]
        for name in _CHAT_OLLAMA_OPTIONS
        if name in modelfile.parameters
    }
    return DispatchChatOllama(
        model=model_tag(specialist, modelfile),
        base_url=normalize_host(host),
        keep_alive=keep_alive,
        default_stop=list(modelfile.parameters.get("stop", [])),
        **options,
    )
