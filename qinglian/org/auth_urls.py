from django.urls import path

from . import auth_views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.logout_view, name="logout"),
    path("password/", auth_views.password_change, name="password_change"),
]
