import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_hub_lists_sections_for_users_in_scope_and_nothing_otherwise(client, org, trading):
    client.force_login(trading.keeper_a)
    page = client.get(reverse("trading:home"))
    assert page.status_code == 200
    assert reverse("trading:stock_document_list").encode() in page.content
    client.force_login(org.no_role)
    page = client.get(reverse("trading:home"))
    assert reverse("trading:stock_document_list").encode() not in page.content


def test_the_hub_needs_a_login(client):
    assert client.get(reverse("trading:home")).status_code == 302
