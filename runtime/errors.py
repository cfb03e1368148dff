"""Exceptions raised by the model runtime."""

from __future__ import annotations


class ModelUnavailableError(Exception):
    """A model cannot be served: a missing or corrupt GGUF file, or a tag Ollama does not have.

    The message always says which file or tag is missing and what to run to fix it.
    """


class SchemaGrammarError(Exception):
    """A JSON schema could not be turned into a decoding grammar.

    Raised instead of decoding without constraints: structured output is never
    silently unconstrained.
    """


class BackendError(Exception):
    """A model backend failed while generating (llama.cpp or the Ollama server)."""
