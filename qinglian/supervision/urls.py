from django.urls import path

from . import views

app_name = "supervision"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("findings/", views.finding_list, name="finding_list"),
    path("findings/<int:pk>/", views.finding_detail, name="finding_detail"),
    path("findings/<int:pk>/dismiss/", views.finding_dismiss, name="finding_dismiss"),
    path("findings/<int:pk>/dismissal/confirm/", views.dismissal_confirm, name="dismissal_confirm"),
    path("findings/<int:pk>/dismissal/decline/", views.dismissal_decline, name="dismissal_decline"),
    path("findings/<int:pk>/case/", views.case_open, name="case_open"),
    path("cases/", views.case_list, name="case_list"),
    path("cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("cases/<int:pk>/rectify/", views.case_rectify, name="case_rectify"),
    path("cases/<int:pk>/verify/", views.case_verify, name="case_verify"),
    path(
        "cases/<int:pk>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
    path("rules/", views.rule_list, name="rule_list"),
    path("rules/<str:code>/", views.rule_edit, name="rule_edit"),
    path("runs/", views.run_list, name="run_list"),
    path("reports/monthly/", views.monthly_report, name="monthly_report"),
    path("reports/monthly.xlsx", views.monthly_report_xlsx, name="monthly_report_xlsx"),
    path("reports/monthly.pdf", views.monthly_report_pdf, name="monthly_report_pdf"),
]
