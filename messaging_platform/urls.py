from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import api as accounts_api
from messaging.operations import api as operations_api
from messaging_platform.api.views import api_not_found
from messaging_platform.health import healthz
from numbers import api as numbers_api
from workspaces import api as workspaces_api
from workspaces.audit import api as audit_api

ws = "api/ui/workspaces/<str:workspace_id>"

api_patterns = [
    path("api/auth/signup", accounts_api.SignupView.as_view(), name="auth-signup"),
    path("api/auth/login", accounts_api.LoginView.as_view(), name="auth-login"),
    path("api/auth/logout", accounts_api.LogoutView.as_view(), name="auth-logout"),
    path(
        "api/auth/logout-everywhere",
        accounts_api.LogoutEverywhereView.as_view(),
        name="auth-logout-everywhere",
    ),
    path("api/auth/me", workspaces_api.MeView.as_view(), name="auth-me"),
    path("api/ui/workspaces", workspaces_api.WorkspaceListView.as_view(), name="workspace-list"),
    path(ws, workspaces_api.WorkspaceDetailView.as_view(), name="workspace-detail"),
    path(f"{ws}/members", workspaces_api.MemberListView.as_view(), name="member-list"),
    path(f"{ws}/members/<str:user_id>", workspaces_api.MemberDetailView.as_view(), name="member-detail"),
    path(f"{ws}/invitations", workspaces_api.InvitationListView.as_view(), name="invitation-list"),
    path(
        f"{ws}/invitations/<str:invitation_id>",
        workspaces_api.InvitationDetailView.as_view(),
        name="invitation-detail",
    ),
    path(
        "api/ui/invitations/accept", workspaces_api.InvitationAcceptView.as_view(), name="invitation-accept"
    ),
    path(f"{ws}/api-keys", workspaces_api.ApiKeyListView.as_view(), name="apikey-list"),
    path(f"{ws}/api-keys/<str:api_key_id>", workspaces_api.ApiKeyDetailView.as_view(), name="apikey-detail"),
    path(f"{ws}/auth-tokens", workspaces_api.AuthTokenListView.as_view(), name="authtoken-list"),
    path(
        f"{ws}/auth-tokens/<str:auth_token_id>",
        workspaces_api.AuthTokenDetailView.as_view(),
        name="authtoken-detail",
    ),
    path(f"{ws}/provider", numbers_api.ProviderAccountView.as_view(), name="provider-account"),
    path(f"{ws}/carriers", numbers_api.CarrierAccountListView.as_view(), name="carrier-list"),
    path(
        f"{ws}/carriers/<str:account_id>",
        numbers_api.CarrierAccountDetailView.as_view(),
        name="carrier-detail",
    ),
    path(
        f"{ws}/carriers/<str:account_id>/test",
        numbers_api.CarrierAccountTestView.as_view(),
        name="carrier-test-api",
    ),
    path(f"{ws}/routes", numbers_api.CarrierRouteListView.as_view(), name="route-list"),
    path(f"{ws}/routes/<str:route_id>", numbers_api.CarrierRouteDetailView.as_view(), name="route-detail"),
    path(f"{ws}/provider/test", numbers_api.ProviderAccountTestView.as_view(), name="provider-account-test"),
    path(f"{ws}/numbers", numbers_api.NumberListView.as_view(), name="number-list"),
    path(f"{ws}/numbers/import", numbers_api.NumberImportView.as_view(), name="number-import"),
    path(f"{ws}/numbers/<str:number_id>", numbers_api.NumberDetailView.as_view(), name="number-detail"),
    path(f"{ws}/audit-log", audit_api.AuditLogView.as_view(), name="audit-log-api"),
    path(f"{ws}/retention", operations_api.RetentionView.as_view(), name="retention"),
    path(f"{ws}/alerts", operations_api.AlertRuleListView.as_view(), name="alert-list"),
    path(f"{ws}/alerts/<str:alert_id>", operations_api.AlertRuleDetailView.as_view(), name="alert-detail"),
    path(
        f"{ws}/messages/<str:message_id>/redact",
        operations_api.WorkspaceMessageRedactView.as_view(),
        name="ws-message-redact",
    ),
    path(
        "api/messages/<str:message_id>/redact",
        operations_api.MessageRedactView.as_view(),
        name="message-redact",
    ),
    path("api/numbers", numbers_api.IntegratorNumberListView.as_view(), name="integrator-numbers"),
    path(
        "api/numbers/<str:number_id>",
        numbers_api.IntegratorNumberDetailView.as_view(),
        name="integrator-number-detail",
    ),
    path("api/workspace", numbers_api.IntegratorWorkspaceView.as_view(), name="integrator-workspace"),
]

urlpatterns = [
    *api_patterns,
    path("", include("messaging.urls")),
    path("", include("messaging.insights.urls")),  # the delivery dashboard and its API
    path("", include("messaging.twilio_api.urls")),  # /2010-04-01/, the Twilio-compatible API
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Anything else under /api/ is a 404 in the error format.
    re_path(r"^api(/.*)?$", api_not_found),
    re_path(r"^webhooks(/.*)?$", api_not_found),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", RedirectView.as_view(url=static("img/logo.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("workspaces.urls")),
    path("", include("numbers.urls")),
    path("", include("workspaces.audit.urls")),
    path("", include("messaging.media_store.urls")),
]

handler400 = "messaging_platform.api.views.bad_request"
handler403 = "messaging_platform.api.views.permission_denied"
handler404 = "messaging_platform.api.views.page_not_found"
handler500 = "messaging_platform.api.views.server_error"
