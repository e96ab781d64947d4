"""Numbers and carrier-account pages."""

from django.urls import path

from . import views

w = "w/<str:ws>"

urlpatterns = [
    path(f"{w}/numbers/", views.numbers, name="numbers"),
    path(f"{w}/numbers/import", views.numbers_import, name="numbers-import"),
    path(f"{w}/numbers/<str:number_id>/update", views.number_update, name="number-update"),
    path(f"{w}/numbers/<str:number_id>/remove", views.number_remove, name="number-remove"),
    path(f"{w}/settings/carrier/", views.carrier, name="carrier"),
    path(f"{w}/settings/carrier/test", views.carrier_test, name="carrier-test"),
]
