from django.contrib.auth import views as auth_views
from django.urls import path

from agents import console, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("agent/", console.home, name="agent-home"),
    path("agent/summary/", console.summary, name="agent-summary"),
    path("agent/profile/", console.profile, name="agent-profile"),
    path("agent/earnings/", console.earnings, name="agent-earnings"),
    path("agent/shifts/", console.shifts, name="agent-shifts"),
    path("finance/", views.finance_home, name="finance-home"),
]
