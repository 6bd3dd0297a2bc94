"""The demo's supervision: the rules run once over the demo data, so the dashboard, the
findings list and the approval pages show findings on first run.

Idempotent: when any run is recorded (the demo's, or an inspector's since), nothing is run —
a second `demo_load` records no run, no finding and no "seen again".
"""

from __future__ import annotations

from qinglian.core.actors import SYSTEM_ACTOR

from .enums import RunTrigger
from .models import Run
from .services import run_rules


def supervision_demo_run() -> Run | None:
    """Run every enabled rule once unless a run is recorded; the run, or None."""
    if Run.objects.exists():
        return None
    return run_rules(actor=SYSTEM_ACTOR, trigger=RunTrigger.COMMAND)
