"""Trading API: master."""

from ninja import Router

router = Router()
