"""The release dashboard: the agent's web pages of what is live, what happened, and the gate.

Served by the agent at ``/dashboard/`` (and through the router at ``/_ttsops/dashboard/``)
from the ledger and the agent's state; ``dashboard_router`` adds its routes to the agent's
app.
"""

from __future__ import annotations

from ttsops.dashboard.routes import dashboard_router

__all__ = ["dashboard_router"]
