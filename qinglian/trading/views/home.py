"""The trading hub: one page that lists the sections a user may open, so the top navigation
needs a single entry for purchase–sales–inventory."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from qinglian.org.scopes import data_scope

# (heading, [(label, url name)]): every page checks its own permissions; this only lists them.
SECTIONS: list[tuple[Promise, list[tuple[Promise, str]]]] = [
    (
        _("Control"),
        [
            (_("Warnings"), "trading:warning_list"),
            (_("Customer credit"), "trading:credit_list"),
            (_("Credit exceptions"), "trading:credit_exception_list"),
            (_("Reports"), "trading:report_index"),
        ],
    ),
    (
        _("Contracts"),
        [(_("Purchase and sales contracts"), "trading:contract_list")],
    ),
    (
        _("Warehouse"),
        [
            (_("Goods receipts and issues"), "trading:stock_document_list"),
            (_("Stocktakes"), "trading:stocktake_list"),
            (_("Stock balances"), "trading:stock_balance_list"),
            (_("Stock ledger"), "trading:stock_ledger_list"),
            (_("Opening stock"), "trading:stock_opening_list"),
        ],
    ),
    (
        _("Money"),
        [
            (_("Invoices"), "trading:invoice_list"),
            (_("Payments and receipts"), "trading:payment_list"),
            (_("Partner ledger"), "trading:partner_ledger"),
            (_("Opening balances"), "trading:opening_balance_list"),
        ],
    ),
    (
        _("Master data"),
        [
            (_("Partners"), "trading:partner_list"),
            (_("Supplier admissions"), "trading:admission_list"),
            (_("Credit changes"), "trading:credit_change_list"),
            (_("Commodities"), "trading:commodity_list"),
            (_("Warehouses"), "trading:warehouse_list"),
        ],
    ),
]


@require_GET
@login_required
def trading_home(request: HttpRequest) -> HttpResponse:
    scope = data_scope(request.user)
    return render(
        request,
        "trading/home.html",
        {
            "sections": SECTIONS if scope.read_company_ids else [],
            "is_oversight": scope.is_oversight,
        },
    )


urlpatterns: list[URLPattern] = [path("", trading_home, name="home")]
