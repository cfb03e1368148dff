"""Prompt of the summarisation specialist."""

SUMMARIZE_PROMPT = """{instruction}

{content}

Summary:"""
"""The instruction, then the text or the earlier result to summarise."""
