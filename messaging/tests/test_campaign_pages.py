"""The campaign pages through Django's test client: contacts, import, templates, broadcasts."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from messaging.models import Broadcast, Contact, ContactImport, Message, MessageTemplate, OptOut

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(user):
    client = Client()
    client.force_login(user)
    return client


def test_contacts_are_added_listed_filtered_and_deleted(client, workspace):
    page = f"/w/{workspace.pk}/contacts/"
    response = client.post(page, {"phone_number": "+1 415 555 2671", "name": "Ana", "tags": "vip, new"})
    assert response.status_code == 302
    refused = client.post(page, {"phone_number": "nope", "name": "X"})
    assert "is not a phone number" in refused.content.decode()
    Contact.objects.create(workspace=workspace, phone_number="+14155552672", name="Ben")
    OptOut.objects.create(workspace=workspace, phone_number="+14155552672")
    listed = client.get(page).content.decode()
    assert "Ana" in listed and "Ben" in listed and "Opted out" in listed
    filtered = client.get(page, {"tag": "vip"}).content.decode()
    assert "Ana" in filtered and "Ben" not in filtered
    ana = Contact.objects.get(name="Ana")
    assert client.post(f"/w/{workspace.pk}/contacts/{ana.pk}/delete").status_code == 302
    assert not Contact.objects.filter(pk=ana.pk).exists()


def test_an_import_from_the_page_shows_its_progress_and_refused_rows(
    client, workspace, django_capture_on_commit_callbacks
):
    csv = SimpleUploadedFile("people.csv", b"phone_number,name\n+14155552671,Ana\nbad,Nobody\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/w/{workspace.pk}/contacts/", {"action": "import", "file": csv})
    job = ContactImport.objects.get()
    assert response["Location"] == f"/w/{workspace.pk}/contacts/import/{job.pk}/"
    shown = client.get(response["Location"]).content.decode()
    assert "Completed" in shown and "1 added" in shown and "1 refused" in shown
    assert "&#x27;bad&#x27; is not a phone number" in shown


def test_a_template_is_saved_and_a_bad_variable_is_an_inline_error(client, workspace):
    page = f"/w/{workspace.pk}/templates/"
    bad = client.post(page, {"name": "Hi", "body": "Hi {{name.upper}}"})
    assert "is not a variable" in bad.content.decode()
    assert client.post(page, {"name": "Hi", "body": "Hi {{name|there}}"}).status_code == 302
    template = MessageTemplate.objects.get()
    assert "Hi {{name|there}}" in client.get(f"/w/{workspace.pk}/templates/{template.pk}/").content.decode()


def test_a_broadcast_is_composed_previewed_and_sent_from_the_pages(
    client, workspace, our_number, django_capture_on_commit_callbacks
):
    Contact.objects.create(workspace=workspace, phone_number="+14155552671", name="Ana", tags=["vip"])
    Contact.objects.create(workspace=workspace, phone_number="+14155552672", name="Ben", tags=["vip"])
    OptOut.objects.create(workspace=workspace, phone_number="+14155552672")
    response = client.post(
        f"/w/{workspace.pk}/broadcasts/new",
        {"name": "Launch", "body": "Hi {{name}} \u2014 we launched", "audience": "tags", "tags": "vip"},
    )
    assert response.status_code == 302, re.findall(r'class="error"[^>]*>([^<]+)', response.content.decode())
    broadcast = Broadcast.objects.get()
    page = client.get(response["Location"]).content.decode()
    assert "<strong>1</strong> messages" in page and "1 opted out" in page
    assert "Hi Ana \u2014 we launched" in page and "(use “-”)" in page
    assert not Message.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(response["Location"], {"action": "send"})
    assert Message.objects.filter(broadcast=broadcast).count() == 1
    listed = client.get(f"/w/{workspace.pk}/broadcasts/").content.decode()
    assert "Launch" in listed
    empty = client.post(f"/w/{workspace.pk}/broadcasts/new", {"name": "x", "body": "hi", "audience": "tags"})
    assert "A list of tags." in empty.content.decode()
