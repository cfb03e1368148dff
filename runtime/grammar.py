"""Turn a JSON schema into a llama.cpp GBNF grammar, or fail loudly.

The conversion is llama-cpp-python's port of llama.cpp's ``json-schema-to-grammar``,
after a normalisation pass that makes Pydantic's schemas digestible:

* annotation keywords (``title``, ``description``, ``default``, ``examples`` …) are
  dropped, so an unconstrained field (``Any``) becomes "any JSON value" instead of
  an "unrecognised schema";
* a root that is only a ``$ref`` (Pydantic's form for a recursive model) is
  replaced by the definition it points to.

Keywords the grammar cannot enforce (numeric bounds, ``multipleOf``, ``uniqueItems``,
``not`` next to a ``type`` …) are logged once per schema; the output must still be
validated (Pydantic does that). Anything the converter cannot express raises
:class:`~runtime.errors.SchemaGrammarError` — decoding never falls back to
unconstrained text.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from runtime.errors import SchemaGrammarError

__all__ = ["JSON_OBJECT_SCHEMA", "schema_to_gbnf", "unenforced_keywords"]

logger = logging.getLogger(__name__)

JSON_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}
"""The schema used for ``format="json"``: any JSON object, as Ollama's ``json`` format."""

_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "readOnly",
        "writeOnly",
        "deprecated",
        "$schema",
        "$id",
    }
)
_SCHEMA_MAPS = frozenset(
    {"properties", "$defs", "definitions", "patternProperties", "dependentSchemas"}
)
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_SINGLES = frozenset(
    {
        "items",
        "additionalProperties",
        "additionalItems",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
    }
)
_UNENFORCED = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "uniqueItems",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "minContains",
        "maxContains",
        "propertyNames",
        "patternProperties",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "dependentSchemas",
        "unevaluatedProperties",
        "unevaluatedItems",
    }
)
MAX_GRAMMAR_REPEAT = 64
"""Largest ``maxLength`` / ``maxItems`` written into a grammar. llama.cpp's converter
unrolls a bound into one optional rule per position, so a ``maxLength`` of 4000 makes a
grammar of hundreds of kilobytes that crashes llama.cpp's grammar parser. Larger bounds are
left out of the grammar (reported by :func:`unenforced_keywords`); Pydantic validation of
the output and ``num_predict`` still bound the value."""

_ENFORCED_FORMATS = frozenset(
    {"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"}
)
_ANY_VALUE: dict[str, Any] = {
    "type": ["object", "array", "string", "number", "boolean", "null"],
}


def _normalise(node: Any, unenforced: set[str], where: str) -> Any:
    if isinstance(node, bool):
        return node
    if not isinstance(node, dict):
        raise SchemaGrammarError(f"not a JSON schema at {where}: {node!r}")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _ANNOTATIONS:
            continue
        if key in _UNENFORCED:
            unenforced.add(key)
        if key == "format" and value not in _ENFORCED_FORMATS:
            unenforced.add(f"format={value}")
        if key in ("maxLength", "maxItems") and isinstance(value, int):
            if value > MAX_GRAMMAR_REPEAT:
                unenforced.add(f"{key}>{MAX_GRAMMAR_REPEAT}")
                continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {
                name: _normalise(sub, unenforced, f"{where}/{key}/{name}")
                for name, sub in value.items()
            }
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [
                _normalise(sub, unenforced, f"{where}/{key}/{index}")
                for index, sub in enumerate(value)
            ]
        elif key in _SCHEMA_SINGLES and isinstance(value, list):
            out[key] = [
                _normalise(sub, unenforced, f"{where}/{key}/{index}")
                for index, sub in enumerate(value)
            ]
        elif key in _SCHEMA_SINGLES:
            out[key] = _normalise(value, unenforced, f"{where}/{key}")
        else:
            out[key] = value
    if not out:
        return dict(_ANY_VALUE)
    return out


def _inline_root_ref(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    for container in ("$defs", "definitions"):
        prefix = f"#/{container}/"
        definitions = schema.get(container)
        if ref.startswith(prefix) and isinstance(definitions, dict):
            target = definitions.get(ref[len(prefix) :])
            if not isinstance(target, dict):
                raise SchemaGrammarError(f"root $ref {ref!r} points to no definition")
            inlined = {key: value for key, value in schema.items() if key != "$ref"}
            inlined.update(target)
            return inlined
    return schema


def unenforced_keywords(schema: dict[str, Any]) -> set[str]:
    """Return the keywords in ``schema`` that a grammar built from it does not enforce."""
    found: set[str] = set()
    _normalise(schema, found, "#")
    return found


@functools.lru_cache(maxsize=256)
def _convert(canonical: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    schema = json.loads(canonical)
    unenforced: set[str] = set()
    normalised = _inline_root_ref(_normalise(schema, unenforced, "#"))
    if unenforced:
        # Bounds left out on purpose (see MAX_GRAMMAR_REPEAT) are expected; anything else
        # is worth a warning: the schema asks for something decoding will not guarantee.
        deliberate = all(k.startswith(("maxLength>", "maxItems>")) for k in unenforced)
        logger.log(
            logging.INFO if deliberate else logging.WARNING,
            "JSON schema %r: the grammar does not enforce %s; validate the output",
            schema.get("title", "<untitled>"),
            ", ".join(sorted(unenforced)),
        )
    try:
        return json_schema_to_gbnf(json.dumps(normalised))
    except Exception as error:  # the converter raises AssertionError, KeyError, ValueError …
        title = schema.get("title", "<untitled>")
        raise SchemaGrammarError(
            f"JSON schema {title!r} cannot be turned into a grammar: "
            f"{type(error).__name__}: {error}"
        ) from error


def schema_to_gbnf(schema: dict[str, Any]) -> str:
    """Convert a JSON schema (e.g. ``Model.model_json_schema()``) into a GBNF grammar.

    Results are cached by the schema's JSON text. Property order is kept: the
    grammar makes the model write properties in the order the schema lists them.

    Args:
        schema: The JSON schema.

    Returns:
        The grammar text, root rule ``root``. It is not yet checked by llama.cpp's
        grammar parser (that needs a loaded model's vocabulary; the embedded chat
        model does it before decoding).

    Raises:
        SchemaGrammarError: If the schema is not a JSON object or uses something the
            converter cannot express (unanchored or ``(?...)`` regex patterns,
            remote ``$ref``, ``not`` without a ``type``, unknown types …).
    """
    if not isinstance(schema, dict):
        raise SchemaGrammarError(f"a JSON schema must be a dict, got {type(schema).__name__}")
    try:
        canonical = json.dumps(schema)
    except (TypeError, ValueError) as error:
        raise SchemaGrammarError(f"JSON schema is not JSON-serialisable: {error}") from error
    return _convert(canonical)
