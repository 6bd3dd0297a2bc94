"""Trading documents that take effect through the approvals engine (contracts, payments,
supplier admissions, credit changes, stocktake variances, credit exceptions) register their
callbacks with the engine's registry here; the engine calls back inside the transaction of the
final decision and never imports this app."""

from __future__ import annotations

from typing import Any

from .services import contracts, credit, master, money, stock

AREAS = (master, contracts, stock, money, credit)


def register() -> None:
    """Called once from TradingConfig.ready()."""
    for area in AREAS:
        area.register_document_types()


def approval_flows() -> list[dict[str, Any]]:
    """Every approval flow the trading documents need (template_save kwargs, minus actor)."""
    return [flow for area in AREAS for flow in area.APPROVAL_FLOWS]
