import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dispatch_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.ping_task")
def ping_task(value: str) -> str:
    """Round-trips through the worker; /healthz?worker=1 and the run command's self-check use it."""
    return value
