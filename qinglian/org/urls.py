from django.urls import path

from . import import_views, views

app_name = "org"
urlpatterns = [
    path("companies/", views.company_list, name="company_list"),
    path("companies/<int:pk>/", views.company_detail, name="company_detail"),
    path("companies/<int:pk>/edit/", views.company_edit, name="company_edit"),
    # Creation happens under a company: the subsidiary's parent, the department's company...
    path("companies/<int:pk>/subsidiaries/new/", views.company_create, name="company_create"),
    path("companies/<int:pk>/departments/new/", views.department_create, name="department_create"),
    path("companies/<int:pk>/users/new/", views.user_create, name="user_create"),
    path("companies/<int:pk>/projects/new/", views.project_create, name="project_create"),
    path("departments/", views.department_list, name="department_list"),
    path("departments/<int:pk>/edit/", views.department_edit, name="department_edit"),
    path("users/", views.user_list, name="user_list"),
    path("users/<int:pk>/", views.user_detail, name="user_detail"),
    path("users/<int:pk>/edit/", views.user_edit, name="user_edit"),
    path("users/<int:pk>/password/", views.user_password_reset, name="user_password_reset"),
    path("users/<int:pk>/roles/", views.role_assignment_grant, name="role_assignment_grant"),
    path(
        "role-assignments/<int:pk>/revoke/",
        views.role_assignment_revoke,
        name="role_assignment_revoke",
    ),
    path("projects/", views.project_list, name="project_list"),
    path("projects/<int:pk>/", views.project_detail, name="project_detail"),
    path("projects/<int:pk>/edit/", views.project_edit, name="project_edit"),
    path("roles/", views.role_list, name="role_list"),
    path("roles/<int:pk>/edit/", views.role_edit, name="role_edit"),
    path("import/", import_views.import_page, name="import"),
    path("import/template.xlsx", import_views.import_template, name="import_template"),
]
