from django.urls import include, path, re_path
from django.views.i18n import JavaScriptCatalog

from qinglian.portal import views as portal_views

from .api import api, api_not_found

urlpatterns = [
    path("", portal_views.home, name="home"),
    path("accounts/", include("qinglian.org.auth_urls")),
    path("org/", include("qinglian.org.urls")),
    path("audit/", include("qinglian.audit.urls")),
    path("approvals/", include("qinglian.approvals.urls")),
    path("trading/", include("qinglian.trading.urls")),
    path("supervision/", include("qinglian.supervision.urls")),
    path("legacy/", include("qinglian.legacy.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/", api.urls),
    # Unknown API paths answer in the API's error shape, not with the HTML 404 page.
    re_path(r"^api/", api_not_found),
]
