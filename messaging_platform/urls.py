from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import api as accounts_api
from messaging_platform.api.views import api_not_found
from messaging_platform.health import healthz
from numbers import api as numbers_api
from workspaces import api as workspaces_api

ws = "api/ui/workspaces/<str:workspace_id>"

api_patterns = [
    path("api/auth/signup", accounts_api.SignupView.as_view(), name="auth-signup"),
    path("api/auth/login", accounts_api.LoginView.as_view(), name="auth-login"),
    path("api/auth/logout", accounts_api.LogoutView.as_view(), name="auth-logout"),
    path("api/auth/me", accounts_api.MeView.as_view(), name="auth-me"),
    path("api/ui/workspaces", workspaces_api.WorkspaceListView.as_view(), name="workspace-list"),
    path(ws, workspaces_api.WorkspaceDetailView.as_view(), name="workspace-detail"),
    path(f"{ws}/members", workspaces_api.MemberListView.as_view(), name="member-list"),
    path(f"{ws}/members/<str:user_id>", workspaces_api.MemberDetailView.as_view(),
         name="member-detail"),
    path(f"{ws}/invitations", workspaces_api.InvitationListView.as_view(), name="invitation-list"),
    path(f"{ws}/invitations/<str:invitation_id>", workspaces_api.InvitationDetailView.as_view(),
         name="invitation-detail"),
    path("api/ui/invitations/accept", workspaces_api.InvitationAcceptView.as_view(),
         name="invitation-accept"),
    path(f"{ws}/api-keys", workspaces_api.ApiKeyListView.as_view(), name="apikey-list"),
    path(f"{ws}/api-keys/<str:api_key_id>", workspaces_api.ApiKeyDetailView.as_view(),
         name="apikey-detail"),
    path(f"{ws}/auth-tokens", workspaces_api.AuthTokenListView.as_view(), name="authtoken-list"),
    path(f"{ws}/auth-tokens/<str:auth_token_id>", workspaces_api.AuthTokenDetailView.as_view(),
         name="authtoken-detail"),
    path(f"{ws}/provider", numbers_api.ProviderAccountView.as_view(), name="provider-account"),
    path(f"{ws}/provider/test", numbers_api.ProviderAccountTestView.as_view(),
         name="provider-account-test"),
    path(f"{ws}/numbers", numbers_api.NumberListView.as_view(), name="number-list"),
    path(f"{ws}/numbers/import", numbers_api.NumberImportView.as_view(), name="number-import"),
    path(f"{ws}/numbers/<str:number_id>", numbers_api.NumberDetailView.as_view(),
         name="number-detail"),
    path("api/numbers", numbers_api.IntegratorNumberListView.as_view(), name="integrator-numbers"),
    path("api/numbers/<str:number_id>", numbers_api.IntegratorNumberDetailView.as_view(),
         name="integrator-number-detail"),
    path("api/workspace", numbers_api.IntegratorWorkspaceView.as_view(),
         name="integrator-workspace"),
]

urlpatterns = [
    *api_patterns,
    path("", include("messaging.urls")),
    path("", include("messaging.twilio_api.urls")),  # /2010-04-01/, the Twilio-compatible API
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Anything else under /api/ is a 404 in the error format.
    re_path(r"^api(/.*)?$", api_not_found),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("workspaces.urls")),
    path("", include("numbers.urls")),
]

handler500 = "messaging_platform.api.views.server_error"
