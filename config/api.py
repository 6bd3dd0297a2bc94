"""The JSON API under /api/: OpenAPI schema at /api/openapi.json, docs at /api/docs."""

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI

from qinglian.approvals.api import router as approvals_router
from qinglian.audit.api import router as audit_router
from qinglian.core.api import SessionAuth, error_response, install_error_handlers
from qinglian.core.errors import ErrorCode
from qinglian.org.api import router as org_router
from qinglian.org.api_auth import TokenAuth
from qinglian.supervision.api import router as supervision_router
from qinglian.trading.api import router as trading_router

api = NinjaAPI(
    title="Qinglian API",
    version="1",
    description=(
        "Integrity supervision platform. Authenticate with the browser session (send the "
        "X-CSRFToken header on writes) or `Authorization: Bearer <token>` (tokens: POST "
        '/api/org/tokens). Every error has the shape `{"error": {code, message, fields, '
        "request_id}}`."
    ),
    auth=[TokenAuth(), SessionAuth(csrf=True)],
    urls_namespace="api",
)
install_error_handlers(api)
api.add_router("/org/", org_router, tags=["org"])
api.add_router("/audit/", audit_router, tags=["audit"])
api.add_router("/approvals/", approvals_router, tags=["approvals"])
api.add_router("/trading/", trading_router, tags=["trading"])
api.add_router("/supervision/", supervision_router, tags=["supervision"])


def api_not_found(request: HttpRequest) -> HttpResponse:
    return error_response(api, request, 404, ErrorCode.NOT_FOUND, _("No such API endpoint."))
