"""A seeded, deterministic Atlas-like world rendered as every source's own exports."""
