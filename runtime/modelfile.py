"""Parse Ollama Modelfiles, the single source of truth for every specialist model.

The parser reads the subset of the Modelfile language Ollama documents: the
instructions ``FROM``, ``ADAPTER``, ``PARAMETER``, ``SYSTEM``, ``TEMPLATE``,
``MESSAGE`` and ``LICENSE`` (case-insensitive), full-line ``#`` comments, bare
values, double-quoted single-line values (with backslash escapes for a quote,
a backslash, ``n`` and ``t``) and values between triple double quotes, which may
span lines.

In a triple-quoted value a line break right after the opening quotes and a
whitespace-only last line before the closing quotes are dropped, so a SYSTEM
prompt written on the lines between the quotes equals the same prompt written
on one line.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Modelfile", "ModelfileError", "PARAMETER_TYPES", "parse_modelfile"]


class ModelfileError(Exception):
    """A Modelfile that cannot be parsed; ``str()`` is ``"<file>:<line>: <reason>"``."""

    def __init__(self, path: Path | str, line: int, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{path}:{line}: {reason}")


def _parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _parse_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


PARAMETER_TYPES: dict[str, Callable[[str], Any]] = {
    # Integers.
    "num_ctx": int,
    "num_predict": int,
    "num_keep": int,
    "num_batch": int,
    "num_gpu": int,
    "main_gpu": int,
    "num_thread": int,
    "seed": int,
    "top_k": int,
    "repeat_last_n": int,
    "mirostat": int,
    # Floats.
    "temperature": _parse_float,
    "top_p": _parse_float,
    "min_p": _parse_float,
    "typical_p": _parse_float,
    "tfs_z": _parse_float,
    "repeat_penalty": _parse_float,
    "presence_penalty": _parse_float,
    "frequency_penalty": _parse_float,
    "mirostat_eta": _parse_float,
    "mirostat_tau": _parse_float,
    # Booleans.
    "penalize_newline": _parse_bool,
    "use_mmap": _parse_bool,
    "use_mlock": _parse_bool,
    "numa": _parse_bool,
    "low_vram": _parse_bool,
    "f16_kv": _parse_bool,
    "vocab_only": _parse_bool,
    # Repeatable strings, collected into a list.
    "stop": str,
}
"""Every ``PARAMETER`` name Ollama accepts, with the function that parses its value."""

_INSTRUCTIONS = ("FROM", "ADAPTER", "PARAMETER", "SYSTEM", "TEMPLATE", "MESSAGE", "LICENSE")
_MESSAGE_ROLES = ("system", "user", "assistant")
_TRIPLE = '"""'
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")
_PATH_SUFFIXES = (".gguf", ".bin", ".safetensors")


@dataclass
class Modelfile:
    """The parsed content of one Modelfile.

    Attributes:
        path: The file it was read from.
        from_: The ``FROM`` value as written: a path (relative to the file's directory)
            or an Ollama model tag.
        adapters: ``ADAPTER`` values as written, in order.
        parameters: ``PARAMETER`` values by name: numbers as ``int``/``float``, booleans
            as ``bool``, ``stop`` always as a ``list[str]``.
        system: The ``SYSTEM`` prompt, if any.
        template: The ``TEMPLATE``, if any.
        messages: ``MESSAGE`` instructions as ``(role, content)`` pairs.
        license: All ``LICENSE`` texts, joined by a blank line, if any.
    """

    path: Path
    from_: str
    adapters: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    template: str | None = None
    messages: list[tuple[str, str]] = field(default_factory=list)
    license: str | None = None

    def _resolve(self, value: str) -> Path:
        candidate = Path(value).expanduser()
        if not candidate.is_absolute():
            candidate = self.path.parent / candidate
        return candidate.resolve()

    def from_path(self) -> Path | None:
        """Return the resolved local path named by ``FROM``, or ``None`` for an Ollama tag.

        A value counts as a path when it starts with ``/``, ``./``, ``../`` or ``~``,
        ends with a model-file suffix (``.gguf``, ``.bin``, ``.safetensors``), or names
        something that exists next to the Modelfile. The path need not exist.
        """
        value = self.from_
        if value.startswith(_PATH_PREFIXES) or value.lower().endswith(_PATH_SUFFIXES):
            return self._resolve(value)
        if (self.path.parent / value).exists():
            return self._resolve(value)
        return None

    def adapter_paths(self) -> list[Path]:
        """Return every ``ADAPTER`` as a resolved path (relative to the Modelfile's directory)."""
        return [self._resolve(adapter) for adapter in self.adapters]

    def content_hash(self) -> str:
        """Return 12 hex digits of the sha256 of the normalised content.

        Comments, blank lines, instruction case, quoting style and the order of
        different instructions do not change the hash; any value does. The hash
        covers what the file says, not the bytes of the GGUF files it names.
        """
        normalised = {
            "from": self.from_,
            "adapters": self.adapters,
            "parameters": {name: self.parameters[name] for name in sorted(self.parameters)},
            "system": self.system,
            "template": self.template,
            "messages": [list(message) for message in self.messages],
            "license": self.license,
        }
        encoded = json.dumps(normalised, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:12]


def _split_word(text: str) -> tuple[str, str]:
    """Split off the first whitespace-delimited word; return it and the stripped rest."""
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


class _Parser:
    """A line-oriented reader of one Modelfile's text."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.index = 0

    def error(self, line: int, reason: str) -> ModelfileError:
        return ModelfileError(self.path, line, reason)

    def parse(self) -> Modelfile:
        from_: str | None = None
        adapters: list[str] = []
        parameters: dict[str, Any] = {}
        system: str | None = None
        template: str | None = None
        messages: list[tuple[str, str]] = []
        licenses: list[str] = []

        while self.index < len(self.lines):
            lineno = self.index + 1
            stripped = self.lines[self.index].strip()
            if not stripped or stripped.startswith("#"):
                self.index += 1
                continue
            word, rest = _split_word(stripped)
            instruction = word.upper()
            if instruction not in _INSTRUCTIONS:
                raise self.error(lineno, f"unknown instruction {word!r}")

            if instruction in ("PARAMETER", "MESSAGE"):
                key, rest = _split_word(rest)
                if not key:
                    raise self.error(lineno, f"{instruction} needs a name and a value")
                value = self.read_value(instruction, rest, lineno)
                if instruction == "PARAMETER":
                    self.add_parameter(parameters, key, value, lineno)
                else:
                    role = key.lower()
                    if role not in _MESSAGE_ROLES:
                        expected = ", ".join(_MESSAGE_ROLES)
                        raise self.error(
                            lineno, f"bad MESSAGE role {key!r}: expected one of {expected}"
                        )
                    messages.append((role, value))
                continue

            value = self.read_value(instruction, rest, lineno)
            if instruction == "FROM":
                if from_ is not None:
                    raise self.error(lineno, "more than one FROM")
                from_ = value
            elif instruction == "ADAPTER":
                adapters.append(value)
            elif instruction == "SYSTEM":
                system = value
            elif instruction == "TEMPLATE":
                template = value
            else:  # LICENSE
                licenses.append(value)

        if from_ is None:
            raise self.error(1, "missing FROM instruction")
        return Modelfile(
            path=self.path,
            from_=from_,
            adapters=adapters,
            parameters=parameters,
            system=system,
            template=template,
            messages=messages,
            license="\n\n".join(licenses) if licenses else None,
        )

    def read_value(self, instruction: str, rest: str, lineno: int) -> str:
        """Read the value that starts at ``rest`` and advance past its last line."""
        if rest.startswith(_TRIPLE):
            return self.read_triple_quoted(rest[len(_TRIPLE) :], lineno)
        self.index += 1
        if rest.startswith('"'):
            return self.read_quoted(rest, lineno)
        if not rest:
            raise self.error(lineno, f"{instruction} needs a value")
        return rest

    def read_triple_quoted(self, first: str, lineno: int) -> str:
        end = first.find(_TRIPLE)
        if end >= 0:
            self.check_trailing(first[end + len(_TRIPLE) :], lineno)
            self.index += 1
            return first[:end]
        chunks = [first]
        cursor = self.index + 1
        while cursor < len(self.lines):
            line = self.lines[cursor]
            end = line.find(_TRIPLE)
            if end >= 0:
                self.check_trailing(line[end + len(_TRIPLE) :], cursor + 1)
                chunks.append(line[:end])
                self.index = cursor + 1
                if not chunks[0].strip():
                    chunks.pop(0)
                if chunks and not chunks[-1].strip():
                    chunks.pop()
                return "\n".join(chunks)
            chunks.append(line)
            cursor += 1
        raise self.error(lineno, 'unterminated """ value (no closing """ before end of file)')

    def check_trailing(self, trailing: str, lineno: int) -> None:
        if trailing.strip():
            raise self.error(lineno, f"unexpected text after closing quotes: {trailing.strip()!r}")

    def read_quoted(self, rest: str, lineno: int) -> str:
        out: list[str] = []
        position = 1
        while position < len(rest):
            char = rest[position]
            if char == "\\" and position + 1 < len(rest):
                following = rest[position + 1]
                out.append(_ESCAPES.get(following, "\\" + following))
                position += 2
                continue
            if char == '"':
                self.check_trailing(rest[position + 1 :], lineno)
                return "".join(out)
            out.append(char)
            position += 1
        raise self.error(lineno, 'unterminated quoted value (missing closing ")')

    def add_parameter(self, parameters: dict[str, Any], name: str, raw: str, lineno: int) -> None:
        key = name.lower()
        parse = PARAMETER_TYPES.get(key)
        if parse is None:
            raise self.error(lineno, f"unknown parameter {name!r}")
        if key == "stop":
            parameters.setdefault("stop", []).append(raw)
            return
        try:
            parameters[key] = parse(raw)
        except ValueError:
            kinds = {int: "an integer", _parse_float: "a number", _parse_bool: "true or false"}
            expected = kinds.get(parse, "a value")
            raise self.error(
                lineno, f"bad value {raw!r} for parameter {key}: expected {expected}"
            ) from None


def parse_modelfile(path: Path) -> Modelfile:
    """Read and parse one Modelfile.

    Args:
        path: The Modelfile to read (UTF-8).

    Returns:
        The parsed Modelfile.

    Raises:
        ModelfileError: On an unknown instruction or parameter, a missing ``FROM``,
            an unterminated quote, a bad parameter value or a bad ``MESSAGE`` role;
            the message starts with ``<file>:<line>:``.
        OSError: If the file cannot be read.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    return _Parser(path, text).parse()
