from django.urls import path, re_path

from . import pages, views

account = "2010-04-01/Accounts/<str:account_sid>"

urlpatterns = [
    path("2010-04-01/Accounts.json", views.AccountListView.as_view(), name="twilio-accounts"),
    path(f"{account}.json", views.AccountView.as_view(), name="twilio-account"),
    path(f"{account}/Messages.json", views.MessageListView.as_view(), name="twilio-messages"),
    path(f"{account}/Messages/<str:sid>.json", views.MessageView.as_view(), name="twilio-message"),
    path(
        f"{account}/IncomingPhoneNumbers.json",
        views.IncomingPhoneNumberListView.as_view(),
        name="twilio-numbers",
    ),
    path(
        f"{account}/IncomingPhoneNumbers/<str:sid>.json",
        views.IncomingPhoneNumberView.as_view(),
        name="twilio-number",
    ),
    re_path(r"^2010-04-01(?P<rest>/.*)?$", views.unknown_path),
    # The settings page
    path("w/<str:ws>/settings/twilio/", pages.twilio_settings, name="twilio-settings"),
    path(
        "w/<str:ws>/settings/twilio/tokens/<str:token_id>/revoke",
        pages.auth_token_revoke,
        name="twilio-token-revoke",
    ),
    path(
        "w/<str:ws>/settings/twilio/numbers/<str:number_id>/sms-url",
        pages.number_sms_url,
        name="twilio-number-sms-url",
    ),
]
