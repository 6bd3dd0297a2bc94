"""Trading API: money."""

from ninja import Router

router = Router()
