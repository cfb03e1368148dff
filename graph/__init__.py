"""The dispatcher graph: state, run configuration, builder, checkpointing and public API."""
