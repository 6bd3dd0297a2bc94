from django.urls import URLPattern

from .views import contracts, credit, home, master, money, reports, stock, warnings

app_name = "trading"

urlpatterns: list[URLPattern] = [
    *home.urlpatterns,
    *master.urlpatterns,
    *contracts.urlpatterns,
    *stock.urlpatterns,
    *money.urlpatterns,
    *warnings.urlpatterns,
    *credit.urlpatterns,
    *reports.urlpatterns,
]
