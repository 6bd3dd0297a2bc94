"""Approval endpoints (to be filled)."""

from ninja import Router

router = Router()
