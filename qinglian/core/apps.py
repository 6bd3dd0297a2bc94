from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "qinglian.core"
    label = "core"
    verbose_name = "Core"
