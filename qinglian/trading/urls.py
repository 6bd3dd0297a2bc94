from django.urls import URLPattern

from .views import contracts, home, master, money, stock

app_name = "trading"

urlpatterns: list[URLPattern] = [
    *home.urlpatterns,
    *master.urlpatterns,
    *contracts.urlpatterns,
    *stock.urlpatterns,
    *money.urlpatterns,
]
