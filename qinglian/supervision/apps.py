from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupervisionConfig(AppConfig):
    name = "qinglian.supervision"
    label = "supervision"
    verbose_name = _("Supervision")

    def ready(self) -> None:
        # Every module under rules/ registers its rule when imported: a new rule is one module.
        from . import rules

        rules.discover()
