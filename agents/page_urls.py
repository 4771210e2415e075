from django.contrib.auth import views as auth_views
from django.urls import path

from agents import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="agents/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("agent/", views.agent_home, name="agent-home"),
    path("supervisor/", views.supervisor_home, name="supervisor-home"),
    path("finance/", views.finance_home, name="finance-home"),
]
