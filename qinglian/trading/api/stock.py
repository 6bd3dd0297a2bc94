"""Trading API: stock."""

from ninja import Router

router = Router()
