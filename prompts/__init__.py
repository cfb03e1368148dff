"""Every prompt text the specialists see, one module per role.

Prompts are module constants with explicit ``{placeholders}``; render them with
:func:`prompts.render.render`, which fails loudly on a missing or unexpected value.
"""
