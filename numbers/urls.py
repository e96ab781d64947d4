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
    path(f"{w}/settings/carrier/new/<str:provider>/", views.carrier_account_new, name="carrier-account-new"),
    path(
        f"{w}/settings/carrier/<str:account_id>/edit/",
        views.carrier_account_edit,
        name="carrier-account-edit",
    ),
    path(
        f"{w}/settings/carrier/<str:account_id>/test", views.carrier_account_test, name="carrier-account-test"
    ),
    path(
        f"{w}/settings/carrier/<str:account_id>/change",
        views.carrier_account_change,
        name="carrier-account-change",
    ),
    path(
        f"{w}/settings/carrier/<str:account_id>/remove",
        views.carrier_account_remove,
        name="carrier-account-remove",
    ),
    path(f"{w}/settings/routes/", views.carrier_routes, name="carrier-routes"),
    path(f"{w}/settings/routes/<str:route_id>/move", views.carrier_route_move, name="carrier-route-move"),
    path(
        f"{w}/settings/routes/<str:route_id>/remove", views.carrier_route_remove, name="carrier-route-remove"
    ),
]
