from django.urls import path

from . import admin_views, views

app_name = "approvals"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("new/", views.new, name="new"),
    path("new/<str:code>/", views.submit, name="submit"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/resubmit/", views.resubmit, name="resubmit"),
    path("<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("<int:pk>/urge/", views.urge, name="urge"),
    path("<int:pk>/comment/", views.comment, name="comment"),
    path("files/<int:pk>/", views.attachment_download, name="attachment"),
    path("tasks/<int:task_id>/approve/", views.approve, name="approve"),
    path("tasks/<int:task_id>/reject/", views.reject, name="reject"),
    path("tasks/<int:task_id>/return/", views.send_back, name="return"),
    path("tasks/<int:task_id>/transfer/", views.transfer, name="transfer"),
    path("tasks/<int:task_id>/add-signer/", views.add_signer, name="add_signer"),
    # Flow administration (admin_views.py): the group's IT administrators.
    path("admin/", admin_views.template_list, name="admin_templates"),
    path("admin/new/", admin_views.template_edit, name="admin_template_new"),
    path("admin/<str:code>/", admin_views.template_edit, name="admin_template_edit"),
]
