"""Evaluation and benchmarks of the dispatcher and its specialists."""
