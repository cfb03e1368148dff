"""Ollama model management: status, build, pull, remove and warm the specialists' models.

Everything goes through the official ``ollama`` client (blob checks and uploads use
the same endpoints over ``httpx``, streamed so that progress can be reported):

* :func:`model_status` — per specialist: the expected tag, whether the server has it,
  its digest and size, whether it still matches the Modelfile (the tag carries the
  Modelfile's content hash; the base and adapter GGUF digests are checked against the
  ones the server's Modelfile names), older builds of the same specialist (stale
  tags), and whether it is loaded (``ps``).
* :func:`build_model` — parse the Modelfile, upload the local FROM/ADAPTER files as
  blobs by SHA-256 (skipping blobs the server already has) and ``create`` the model
  from them with the Modelfile's system prompt, parameters, template, messages and
  license, reporting the streamed status.
* :func:`pull_models`, :func:`remove_models`, :func:`warm_models`.

Each specialist may live on its own host (:func:`runtime.registry.specialist_host`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pydantic

import ollama
from runtime.errors import BackendError, ModelUnavailableError
from runtime.modelfile import Modelfile
from runtime.ollama_backend import (
    DEFAULT_KEEP_ALIVE,
    classify_fault,
    describe_down,
    model_tag,
)
from runtime.paths import display_path, modelfile_names, modelfile_path
from runtime.registry import load_modelfile, resolve_ollama_host, specialist_host

__all__ = [
    "BuildResult",
    "ModelStatus",
    "Progress",
    "ProgressCallback",
    "WarmResult",
    "base_model_tags",
    "blob_digest",
    "build_model",
    "build_models",
    "model_status",
    "pull_models",
    "remove_models",
    "warm_models",
]

logger = logging.getLogger(__name__)

_CONTROL_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_LONG_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
_CHUNK = 1 << 20
_DIGEST_IN_TEXT = re.compile(r"sha256[-:]([0-9a-f]{64})")


@dataclass(frozen=True)
class Progress:
    """One step of a long operation, for a progress bar.

    Attributes:
        subject: The specialist or model the step belongs to.
        status: What is happening (``uploading sha256:…``, ``writing manifest`` …).
        completed: Bytes done so far, when the step is measurable.
        total: Bytes in all, when the step is measurable.
    """

    subject: str
    status: str
    completed: int | None = None
    total: int | None = None


ProgressCallback = Callable[[Progress], None]


def _ignore(_: Progress) -> None:
    return None


@dataclass
class ModelStatus:
    """What one Ollama server holds for one specialist.

    Attributes:
        specialist: The specialist.
        tag: The tag its current Modelfile expects.
        host: The server asked.
        present: Whether the server has ``tag``.
        current: Whether the server's model matches the Modelfile and its GGUF files
            (``None`` when not present or not checkable).
        digest: The model's digest on the server.
        size: The model's size in bytes.
        loaded: Whether the model is loaded (``ps``).
        expires_at: When a loaded model will be unloaded.
        stale_tags: Other builds of this specialist on the server (older Modelfiles).
        problem: Why the answer is incomplete or the model does not match.
        reachable: Whether the server answered at all.
    """

    specialist: str
    tag: str
    host: str
    present: bool = False
    current: bool | None = None
    digest: str | None = None
    size: int | None = None
    loaded: bool = False
    expires_at: datetime | None = None
    stale_tags: list[str] = field(default_factory=list)
    problem: str | None = None
    reachable: bool = True

    @property
    def state(self) -> str:
        """One word: ``current``, ``mismatch``, ``stale``, ``missing`` or ``unreachable``."""
        if self.present:
            return "current" if self.current is not False else "mismatch"
        if not self.reachable:
            return "unreachable"
        return "stale" if self.stale_tags else "missing"

    def as_dict(self) -> dict[str, Any]:
        """The status as JSON-ready values."""
        return {
            "specialist": self.specialist,
            "tag": self.tag,
            "host": self.host,
            "state": self.state,
            "present": self.present,
            "current": self.current,
            "digest": self.digest,
            "size": self.size,
            "loaded": self.loaded,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "stale_tags": list(self.stale_tags),
            "problem": self.problem,
        }


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_model` did.

    Attributes:
        specialist: The specialist built.
        tag: The model created.
        host: The server it was created on.
        uploaded: Digests of the blobs uploaded.
        skipped: Digests of the blobs the server already had.
        seconds: Wall time.
    """

    specialist: str
    tag: str
    host: str
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class WarmResult:
    """What :func:`warm_models` measured for one specialist.

    Attributes:
        specialist: The specialist warmed.
        tag: Its model.
        host: The server.
        seconds: Wall time of the load request.
        load_seconds: Load time the server reported (``load_duration``), if any.
    """

    specialist: str
    tag: str
    host: str
    seconds: float
    load_seconds: float | None


# --------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=64)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def blob_digest(path: Path) -> str:
    """Return ``sha256:<hex>`` of a file (cached while its size and mtime stay the same)."""
    stat = Path(path).stat()
    return _digest_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def _client(host: str, timeout: httpx.Timeout = _CONTROL_TIMEOUT) -> ollama.Client:
    return ollama.Client(host=host, timeout=timeout)


def _server_error(host: str, action: str, error: Exception) -> Exception:
    """Turn a client exception into the runtime's error, with advice."""
    kind = classify_fault(error)
    if kind == "down":
        return ModelUnavailableError(
            f"Ollama at {host} does not answer{describe_down(error)} — start it (`ollama serve`) "
            "or point OLLAMA_HOST (or SLM_OLLAMA_HOST_<SPECIALIST>, or --host) at a running server"
        )
    if kind is None:
        return error
    return BackendError(f"Ollama at {host} failed to {action}: {error}")


def _hosts(
    specialists: Iterable[str], host: str | None, hosts: Mapping[str, str] | None
) -> list[tuple[str, str]]:
    chosen = list(specialists) or list(modelfile_names())
    for specialist in chosen:
        modelfile_path(specialist)  # raises ValueError for an unknown specialist
    return [(s, specialist_host(s, host, hosts)) for s in chosen]


def _local_files(modelfile: Modelfile) -> tuple[Path | None, list[Path]]:
    """Return the FROM file (``None`` for a tag) and the ADAPTER files, checked to exist."""
    base = modelfile.from_path()
    adapters = modelfile.adapter_paths()
    for kind, path in [("FROM", base), *(("ADAPTER", a) for a in adapters)]:
        if path is not None and not path.is_file():
            fix = (
                "run `slm-dispatch setup`"
                if kind == "FROM"
                else "train and export it, or remove the line"
            )
            raise ModelUnavailableError(
                f"{display_path(modelfile.path)}: {kind} {display_path(path)} does not exist "
                f"— {fix}"
            )
    return base, adapters


def _expected_digests(modelfile: Modelfile) -> set[str]:
    base = modelfile.from_path()
    paths = [p for p in [base, *modelfile.adapter_paths()] if p is not None and p.is_file()]
    return {blob_digest(p).removeprefix("sha256:") for p in paths}


# --------------------------------------------------------------------------- status


def _status_on(client: ollama.Client, host: str, specialists: Sequence[str]) -> list[ModelStatus]:
    tags = client.list().models
    running = client.ps().models
    listed = {m.model: m for m in tags if m.model}
    loaded = {(m.model or m.name): m for m in running}
    results = []
    for specialist in specialists:
        modelfile = load_modelfile(specialist)
        tag = model_tag(specialist, modelfile)
        prefix = f"slm-dispatch/{specialist}:"
        status = ModelStatus(
            specialist=specialist,
            tag=tag,
            host=host,
            stale_tags=sorted(t for t in listed if t.startswith(prefix) and t != tag),
        )
        entry = listed.get(tag) or listed.get(f"{tag}:latest")
        if entry is not None:
            status.present = True
            status.digest = entry.digest
            status.size = int(entry.size) if entry.size is not None else None
            status.current, status.problem = _matches(client, tag, modelfile)
        running_entry = loaded.get(tag)
        if running_entry is not None:
            status.loaded = True
            status.expires_at = running_entry.expires_at
        results.append(status)
    return results


def _matches(
    client: ollama.Client, tag: str, modelfile: Modelfile
) -> tuple[bool | None, str | None]:
    """Compare the GGUF digests the server's model names with the local files."""
    try:
        shown = client.show(tag)
        text = shown.modelfile or ""
    except pydantic.ValidationError:
        return None, "the server's /api/show answer is incomplete; GGUF digests not checked"
    found = set(_DIGEST_IN_TEXT.findall(text))
    expected = _expected_digests(modelfile)
    if not found or not expected:
        return True, None
    missing = expected - found
    if missing:
        return False, (
            "the base or adapter GGUF changed since the model was built "
            f"(sha256:{sorted(missing)[0][:12]}… not in the server's model) — "
            f"run `slm-dispatch models build {tag.split('/')[1].split(':')[0]}`"
        )
    return True, None


def model_status(
    specialists: Iterable[str] = (),
    *,
    host: str | None = None,
    hosts: Mapping[str, str] | None = None,
) -> list[ModelStatus]:
    """Report what each specialist's Ollama server holds for it (never raises for the server).

    Args:
        specialists: Which specialists (default: all).
        host: The server for specialists not placed by ``hosts``; default ``$OLLAMA_HOST``.
        hosts: Per-specialist servers.

    Returns:
        One :class:`ModelStatus` per specialist, in the order given; a server that does
        not answer gives statuses whose ``problem`` says so.
    """
    placed = _hosts(specialists, host, hosts)
    by_host: dict[str, list[str]] = {}
    for specialist, where in placed:
        by_host.setdefault(where, []).append(specialist)
    found: dict[str, ModelStatus] = {}
    for where, group in by_host.items():
        try:
            with _client(where) as client:
                for status in _status_on(client, where, group):
                    found[status.specialist] = status
        except Exception as error:  # reported per specialist instead of raised
            if classify_fault(error) is None:
                raise
            reason = str(_server_error(where, "list its models", error))
            for specialist in group:
                tag = model_tag(specialist, load_modelfile(specialist))
                found[specialist] = ModelStatus(
                    specialist=specialist, tag=tag, host=where, problem=reason, reachable=False
                )
    return [found[specialist] for specialist, _ in placed]


# --------------------------------------------------------------------------- build


def _upload_blob(
    http: httpx.Client, path: Path, digest: str, subject: str, progress: ProgressCallback
) -> bool:
    """Upload ``path`` unless the server has ``digest``; return whether it was uploaded."""
    answer = http.head(f"/api/blobs/{digest}")
    if answer.status_code == 200:
        progress(Progress(subject, f"using existing blob {digest[:19]}"))
        return False
    if answer.status_code != 404:
        answer.raise_for_status()
    total = path.stat().st_size
    status = f"uploading {digest[:19]} ({path.name})"

    def chunks() -> Iterator[bytes]:
        done = 0
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(_CHUNK), b""):
                done += len(block)
                yield block
                progress(Progress(subject, status, done, total))

    progress(Progress(subject, status, 0, total))
    response = http.post(
        f"/api/blobs/{digest}",
        content=chunks(),
        headers={"Content-Length": str(total)},
    )
    if response.status_code == 400:
        raise BackendError(
            f"Ollama rejected the blob {path}: its SHA-256 does not match {digest} "
            "(was the file changed during the upload?)"
        )
    response.raise_for_status()
    return True


def _unique_names(paths: Sequence[Path]) -> list[str]:
    names: list[str] = []
    for index, path in enumerate(paths):
        name = path.name
        names.append(name if name not in names else f"{index}-{name}")
    return names


def build_model(
    specialist: str,
    *,
    host: str | None = None,
    hosts: Mapping[str, str] | None = None,
    progress: ProgressCallback = _ignore,
) -> BuildResult:
    """Create a specialist's model on its Ollama server from its Modelfile.

    Local FROM/ADAPTER files are uploaded as blobs by SHA-256 (blobs the server has are
    skipped); a FROM that names an Ollama tag is passed as ``from``.

    Raises:
        ModelfileError: If the Modelfile does not parse (``file:line: reason``).
        ModelUnavailableError: If a named file is missing or the server does not answer.
        BackendError: If the server refuses the blobs or the model.
    """
    ((_, where),) = _hosts([specialist], host, hosts)
    started = time.perf_counter()
    modelfile = load_modelfile(specialist)
    tag = model_tag(specialist, modelfile)
    base, adapters = _local_files(modelfile)
    uploaded: list[str] = []
    skipped: list[str] = []
    files: dict[str, str] | None = None
    adapter_blobs: dict[str, str] | None = None
    try:
        with httpx.Client(base_url=where, timeout=_LONG_TIMEOUT) as http:
            local = [p for p in [base, *adapters] if p is not None]
            digests = {}
            for path in local:
                progress(Progress(specialist, f"hashing {path.name}"))
                digests[path] = blob_digest(path)
                sent = _upload_blob(http, path, digests[path], specialist, progress)
                (uploaded if sent else skipped).append(digests[path])
        if base is not None:
            files = {base.name: digests[base]}
        if adapters:
            adapter_blobs = dict(
                zip(_unique_names(adapters), (digests[a] for a in adapters), strict=True)
            )
        with _client(where, _LONG_TIMEOUT) as client:
            stream = client.create(
                model=tag,
                from_=None if base is not None else modelfile.from_,
                files=files,
                adapters=adapter_blobs,
                system=modelfile.system,
                template=modelfile.template,
                license=modelfile.license,
                parameters=dict(modelfile.parameters) or None,
                messages=[{"role": r, "content": c} for r, c in modelfile.messages] or None,
                stream=True,
            )
            for update in stream:
                progress(Progress(specialist, update.status or "", update.completed, update.total))
    except (ModelUnavailableError, BackendError):
        raise
    except httpx.HTTPStatusError as error:
        raise BackendError(
            f"Ollama at {where} failed to store a blob for {tag}: {error.response.text}"
        ) from error
    except Exception as error:
        raise _server_error(where, f"create {tag}", error) from error
    elapsed = time.perf_counter() - started
    logger.info("built %s on %s in %.2fs", tag, where, elapsed)
    return BuildResult(specialist, tag, where, tuple(uploaded), tuple(skipped), elapsed)


def build_models(
    specialists: Iterable[str] = (),
    *,
    host: str | None = None,
    hosts: Mapping[str, str] | None = None,
    progress: ProgressCallback = _ignore,
) -> list[BuildResult]:
    """Build several specialists (default: all) with :func:`build_model`, in order."""
    return [
        build_model(specialist, host=where, progress=progress)
        for specialist, where in _hosts(specialists, host, hosts)
    ]


# --------------------------------------------------------------------------- pull / rm / warm


def base_model_tags(specialists: Iterable[str] = ()) -> list[str]:
    """Return the Ollama tags the Modelfiles' FROM lines name (not local files), deduplicated."""
    tags: dict[str, None] = {}
    for specialist in list(specialists) or list(modelfile_names()):
        modelfile = load_modelfile(specialist)
        if modelfile.from_path() is None:
            tags.setdefault(modelfile.from_, None)
    return list(tags)


def pull_models(
    names: Iterable[str], *, host: str | None = None, progress: ProgressCallback = _ignore
) -> list[str]:
    """Pull base models by tag onto ``host`` (default ``$OLLAMA_HOST``); return the names.

    Raises:
        ModelUnavailableError: If the server does not answer or does not know a name.
        BackendError: If the pull fails.
    """
    where = resolve_ollama_host(host)
    pulled = []
    with _client(where, _LONG_TIMEOUT) as client:
        for name in names:
            try:
                for update in client.pull(name, stream=True):
                    progress(Progress(name, update.status or "", update.completed, update.total))
            except ollama.ResponseError as error:
                if error.status_code in (400, 404) or "not exist" in str(error.error):
                    raise ModelUnavailableError(
                        f"Ollama at {where} cannot pull {name}: {error.error}"
                    ) from error
                raise _server_error(where, f"pull {name}", error) from error
            except Exception as error:
                raise _server_error(where, f"pull {name}", error) from error
            pulled.append(name)
    return pulled


def remove_models(
    specialists: Iterable[str] = (),
    *,
    host: str | None = None,
    hosts: Mapping[str, str] | None = None,
    stale: bool = False,
) -> list[tuple[str, str, bool]]:
    """Delete specialists' models (default: all) from their servers.

    Args:
        specialists: Which specialists.
        host: Server for specialists not placed by ``hosts``.
        hosts: Per-specialist servers.
        stale: Delete only older builds (tags of earlier Modelfiles), keep the current one.

    Returns:
        ``(tag, host, deleted)`` per tag considered; ``deleted`` is ``False`` when the
        server did not have it.
    """
    results = []
    for status in model_status(specialists, host=host, hosts=hosts):
        if not status.reachable:
            raise ModelUnavailableError(status.problem)
        tags = list(status.stale_tags) if stale else [status.tag, *status.stale_tags]
        with _client(status.host) as client:
            for tag in tags:
                try:
                    client.delete(tag)
                    results.append((tag, status.host, True))
                except ollama.ResponseError as error:
                    if error.status_code != 404:
                        raise _server_error(status.host, f"delete {tag}", error) from error
                    results.append((tag, status.host, False))
    return results


def warm_models(
    specialists: Iterable[str] = (),
    *,
    host: str | None = None,
    hosts: Mapping[str, str] | None = None,
    keep_alive: str | int = DEFAULT_KEEP_ALIVE,
) -> list[WarmResult]:
    """Load specialists' models (default: all) with ``keep_alive``, so requests pay no load.

    Raises:
        ModelUnavailableError: If a server does not answer or lacks a model (the message
            says which ``models build`` to run).
        BackendError: If a load fails.
    """
    results = []
    for specialist, where in _hosts(specialists, host, hosts):
        tag = model_tag(specialist, load_modelfile(specialist))
        started = time.perf_counter()
        try:
            with _client(where, _LONG_TIMEOUT) as client:
                answer = client.chat(model=tag, messages=[], keep_alive=keep_alive)
        except ollama.ResponseError as error:
            if error.status_code == 404:
                raise ModelUnavailableError(
                    f"model {tag} is not on {where} — run `slm-dispatch models build {specialist}`"
                ) from error
            raise _server_error(where, f"load {tag}", error) from error
        except Exception as error:
            raise _server_error(where, f"load {tag}", error) from error
        load_ns = answer.load_duration
        results.append(
            WarmResult(
                specialist,
                tag,
                where,
                time.perf_counter() - started,
                load_ns / 1e9 if load_ns else None,
            )
        )
    return results
