"""Signing in and out, each role's home, and the pages every signed-in person may read."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("login/", pages.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("algorithm-notice/", pages.algorithm_notice, name="algorithm-notice"),
]
