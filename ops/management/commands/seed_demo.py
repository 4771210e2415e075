from django.conf import settings
from django.core.management.base import BaseCommand

from ops.demo import DEMO_AGENT_COUNT, seed_demo


class Command(BaseCommand):
    help = "Create the demo accounts, skills and integration of CONTRACT.md. Safe to run again."

    def handle(self, *args, **options):
        result = seed_demo()
        password = settings.DEMO_PASSWORD
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
        self.stdout.write(f"  agents:      agent01 .. agent{DEMO_AGENT_COUNT:02d}   (password: {password})")
        self.stdout.write(f"  supervisors: supervisor, supervisor2        (password: {password})")
        self.stdout.write(f"  finance:     finance, finance2              (password: {password})")
        self.stdout.write(f"  integration: demo-bot  token: {result['integration_token']}")
