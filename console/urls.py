"""The agent's console, under /agent/."""

from django.urls import path

from console import pages

urlpatterns = [
    path("agent/", pages.home, name="agent-home"),
    path("agent/summary/", pages.summary, name="agent-summary"),
    path("agent/profile/", pages.profile, name="agent-profile"),
    path("agent/earnings/", pages.earnings, name="agent-earnings"),
    path("agent/shifts/", pages.shifts, name="agent-shifts"),
    path("agent/language/", pages.language_set, name="agent-language"),
]
