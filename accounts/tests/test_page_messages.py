"""Small things the pages say (issue 15.13): password rules up front, how long a lockout lasts,
who queued a message, and a favicon."""

import pytest
from django.test import Client

from messaging.models import Direction, Message, MessageEvent, Status

pytestmark = pytest.mark.django_db


def test_sign_up_states_the_password_rules_before_any_error():
    page = Client().get("/signup/").content.decode()
    assert "Your password must contain at least" in page
    assert 'aria-describedby="id_password_helptext"' in page


def test_the_lockout_says_how_long_it_lasts(user, settings):
    settings.LOGIN_FAILURE_RATE_PER_ACCOUNT = "3/15m"
    client = Client()
    for _ in range(3):
        client.post("/login/", {"username": user.email, "password": "wrong"})
    page = client.post("/login/", {"username": user.email, "password": "wrong"}).content.decode()
    assert "Too many failed logins; try again in " in page and " minute" in page
    assert "try again later" not in page


def test_a_message_sent_from_the_inbox_says_who_sent_it(user, workspace):
    message = Message.objects.create(
        workspace=workspace,
        direction=Direction.OUTBOUND,
        status=Status.QUEUED,
        to_number="+14155552671",
        body="hi",
        sent_by=user,
    )
    MessageEvent.objects.create(message=message, status=Status.QUEUED, source="api")
    client = Client()
    client.force_login(user)
    page = client.get(f"/w/{workspace.pk}/messages/{message.pk}/").content.decode()
    assert "from the inbox by Olivia Owner" in page
    assert "by api" not in page


def test_the_favicon_is_served():
    response = Client().get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].endswith("logo.svg")
