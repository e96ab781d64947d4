from django.urls import path

from . import views

urlpatterns = [
    path("w/<str:ws>/settings/audit-log/", views.audit_log, name="audit-log"),
]
