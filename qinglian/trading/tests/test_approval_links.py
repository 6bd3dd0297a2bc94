"""Every trading document type bound to approvals links the request page back to its document."""

from __future__ import annotations

import pytest
from django.urls import reverse

from qinglian.approvals.registry import document_type

PAGES = {
    "trading.contract": "trading:contract_detail",
    "trading.payment": "trading:payment_detail",
    "trading.supplier_admission": "trading:admission_detail",
    "trading.credit_change": "trading:credit_change_detail",
    "trading.credit_exception": "trading:credit_exception_detail",
    "trading.stocktake": "trading:stocktake_detail",
}


@pytest.mark.parametrize(("key", "url_name"), sorted(PAGES.items()))
def test_document_type_links_to_its_page(key, url_name):
    registered = document_type(key)
    assert registered is not None, key
    assert registered.url_of is not None
    assert registered.url_of(document_id="42") == reverse(url_name, args=[42])
    assert registered.url_of(document_id="../x") is None
