from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core import login as login_views
from core import views as core_views
from core.api_errors import (
    api_not_found,
    api_server_error,
    is_api_request,
)
from core.observability.views import metrics_view
from orchestration.views import email_inbound

api_v1 = [
    path("", include("core.api")),
    path("", include("agents.api")),
    path("", include("agents.rules_api")),
    path("", include("orchestration.rule_tester_api")),
    path("", include("orchestration.erasure_api")),
    path("", include("orchestration.webhooks_api")),
    path("", include("agents.workflows_api")),
    path("", include("agents.intents_api")),
    path("", include("agents.settings_api")),
    path("", include("conversations.api")),
    path("", include("handover.api")),
    path("", include("handover.customers_api")),
    path("", include("approvals.api")),
    path("", include("insight.metrics.api")),
    path("", include("stacks.api")),
]

if settings.BENCH_FLOOR:  # bench/pipeline.py's server only (core/bench_floor.py)
    from core.bench_floor import FloorView

    api_v1.append(path("bench/floor", FloorView.as_view()))

urlpatterns = [
    # the Prometheus scrape (METRICS_TOKEN or METRICS_ALLOW_IPS; core/observability/views.py)
    path("metrics", metrics_view, name="metrics"),
    path("", core_views.home, name="home"),
    path("accounts/login/", login_views.login_view, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/tokens/", core_views.tokens, name="tokens"),
    path(
        "accounts/sign-out-everywhere/",
        core_views.sign_out_everywhere,
        name="sign-out-everywhere",
    ),
    path(
        "accounts/tokens/<int:token_id>/revoke/",
        core_views.token_revoke,
        name="token-revoke",
    ),
    # the admin's own login, with the sign-in limits (core/login.py)
    path("admin/login/", login_views.admin_login_view),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # the e-mail channel's inbound parse (orchestration/email_inbound.py, README "E-mail")
    path("email/inbound/<str:token>", email_inbound, name="email-inbound"),
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
