from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TradingConfig(AppConfig):
    name = "qinglian.trading"
    label = "trading"
    verbose_name = _("Purchase–sales–inventory")

    def ready(self) -> None:
        # Documents that take effect through the approvals engine register their callbacks here;
        # the engine never imports this app.
        from . import approval_binding

        approval_binding.register()
