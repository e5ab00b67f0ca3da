from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from orchestration import login as login_views
from orchestration import views as orchestration_views
from orchestration.api_errors import api_not_found, api_server_error, is_api_request

api_v1 = [
    path("", include("orchestration.api")),
    path("", include("agents.api")),
    path("", include("agents.rules_api")),
    path("", include("agents.workflows_api")),
    path("", include("orchestration.settings_api")),
    path("", include("orchestration.conversations_api")),
    path("", include("handover.api")),
    path("", include("approvals.api")),
    path("", include("orchestration.metrics.api")),
    path("", include("stacks.api")),
]

urlpatterns = [
    path("", orchestration_views.home, name="home"),
    path("accounts/login/", login_views.login_view, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/tokens/", orchestration_views.tokens, name="tokens"),
    path(
        "accounts/sign-out-everywhere/",
        orchestration_views.sign_out_everywhere,
        name="sign-out-everywhere",
    ),
    path(
        "accounts/tokens/<int:token_id>/revoke/",
        orchestration_views.token_revoke,
        name="token-revoke",
    ),
    # the admin's own login, with the sign-in limits (orchestration/login.py)
    path("admin/login/", login_views.admin_login_view),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("", include("handover.urls")),
    path("approvals/", include("approvals.urls")),
]


def handler404(request, exception):
    if is_api_request(request):
        return api_not_found(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if is_api_request(request):
        return api_server_error(request)
    from django.views.defaults import server_error

    return server_error(request)
