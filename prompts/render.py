"""Strict rendering of prompt templates."""

from __future__ import annotations

import string

_FORMATTER = string.Formatter()


class PromptRenderError(KeyError):
    """A prompt was rendered with a missing or unexpected placeholder value."""


def placeholders(template: str) -> set[str]:
    """Return the names of the ``{placeholders}`` in ``template``."""
    return {name for _, name, _, _ in _FORMATTER.parse(template) if name}


def render(template: str, **values: object) -> str:
    """Fill every placeholder of ``template``.

    Args:
        template: A prompt constant from this package.
        **values: One value per placeholder, no more and no fewer.

    Returns:
        The rendered prompt.

    Raises:
        PromptRenderError: A placeholder has no value, or a value has no placeholder.
    """
    wanted = placeholders(template)
    missing = sorted(wanted - values.keys())
    extra = sorted(values.keys() - wanted)
    if missing or extra:
        raise PromptRenderError(
            f"prompt rendering failed: missing {missing or 'nothing'}, "
            f"unexpected {extra or 'nothing'}"
        )
    return template.format(**values)
