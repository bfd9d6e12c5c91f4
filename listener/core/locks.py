"""Advisory lock keys every process of the orchestrator agrees on.

They live here, below every layer, because more than one layer names them: the listener
takes its leader lock, and the metrics read who holds it (docs/events.md, "Nothing lost,
nothing twice"; docs/health-and-alerts.md, "Metrics").
"""

from __future__ import annotations

# One consumer per database: the key is fixed so every listener build agrees on it.
LISTENER_LEADER = 0x6174_6C61_736C_7374  # "atlaslst"
