from django.urls import path

from . import api, views

urlpatterns = [
    path("api/insights", api.InsightsView.as_view(), name="insights"),
    path(
        "api/ui/workspaces/<str:workspace_id>/insights",
        api.WorkspaceInsightsView.as_view(),
        name="ws-insights",
    ),
    path("w/<str:ws>/dashboard/", views.dashboard, name="dashboard"),
]
