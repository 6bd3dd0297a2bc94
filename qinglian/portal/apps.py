from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The UI shell: home page by role and navigation. Top of the layering; composes the rest."""

    name = "qinglian.portal"
    label = "portal"
    verbose_name = _("Portal")
