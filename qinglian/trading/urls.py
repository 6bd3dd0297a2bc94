from django.urls import URLPattern

from .views import contracts, master, money, stock

app_name = "trading"

urlpatterns: list[URLPattern] = [
    *master.urlpatterns,
    *contracts.urlpatterns,
    *stock.urlpatterns,
    *money.urlpatterns,
]
