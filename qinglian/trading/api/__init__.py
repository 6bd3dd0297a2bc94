"""The trading JSON API, mounted at /api/trading/."""

from ninja import Router

from . import contracts, master, money, stock

router = Router()
router.add_router("", master.router)
router.add_router("", contracts.router)
router.add_router("", stock.router)
router.add_router("", money.router)
