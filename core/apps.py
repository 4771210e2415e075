from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"

    def ready(self):
        # Celery tasks bind their ids for the log lines they cause (the module connects the signals).
        from core import log_context  # noqa: F401
