"""The trading JSON API, mounted at /api/trading/."""

from ninja import Router

from . import contracts, credit, master, money, reports, stock, warnings

router = Router()
router.add_router("", master.router)
router.add_router("", contracts.router)
router.add_router("", stock.router)
router.add_router("", money.router)
router.add_router("", warnings.router)
router.add_router("", credit.router)
router.add_router("", reports.router)
