from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "qinglian.audit"
    label = "audit"
    verbose_name = _("Audit trail")

    def ready(self) -> None:
        from qinglian.core.audit import register_audit_writer

        from . import tasks  # noqa: F401  (registers the daily anchor job with Huey)
        from .services import audit_event_append

        register_audit_writer(audit_event_append)
