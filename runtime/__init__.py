"""The model runtime: turns a specialist's Modelfile into a LangChain chat model.

Two backends serve the same specialists: Ollama (production) and llama.cpp embedded
in the process (the default wherever no Ollama answers). Both accept
``model.invoke(messages, format=schema_dict)`` and constrain decoding to the schema.
"""

from runtime.capabilities import (
    adapter_prompt,
    adapter_schema,
    is_finetuned,
    repair_variant,
    supports_grammar,
)
from runtime.embedded import LLAMA_STATS, EmbeddedChatModel, LlamaStatsSnapshot
from runtime.errors import BackendError, ModelUnavailableError, SchemaGrammarError
from runtime.modelfile import Modelfile, ModelfileError, parse_modelfile
from runtime.ollama_backend import model_tag, ollama_chat_model, ollama_has_model
from runtime.paths import install_base_model, modelfile_names, modelfile_path
from runtime.registry import (
    BACKENDS,
    clear_caches,
    get_chat_model,
    load_modelfile,
    system_prompt,
)

__all__ = [
    "BACKENDS",
    "LLAMA_STATS",
    "BackendError",
    "EmbeddedChatModel",
    "LlamaStatsSnapshot",
    "ModelUnavailableError",
    "Modelfile",
    "ModelfileError",
    "SchemaGrammarError",
    "adapter_prompt",
    "adapter_schema",
    "clear_caches",
    "get_chat_model",
    "is_finetuned",
    "install_base_model",
    "load_modelfile",
    "model_tag",
    "modelfile_names",
    "modelfile_path",
    "ollama_chat_model",
    "ollama_has_model",
    "parse_modelfile",
    "repair_variant",
    "supports_grammar",
    "system_prompt",
]
