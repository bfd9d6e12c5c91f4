"""atlas-orchestrator: the coordination layer and event listener over the Atlas pipeline."""

__version__ = "0.1.0"
