from django.urls import path

from . import views

app_name = "org"
urlpatterns = [
    path("companies/", views.placeholder, name="company_list"),
    path("companies/<int:pk>/", views.placeholder, name="company_detail"),
    path("departments/", views.placeholder, name="department_list"),
    path("users/", views.placeholder, name="user_list"),
    path("projects/", views.placeholder, name="project_list"),
    path("projects/<int:pk>/", views.placeholder, name="project_detail"),
    path("import/", views.placeholder, name="import"),
]
