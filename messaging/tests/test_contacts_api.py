import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conftest import assert_error
from messaging import contacts
from messaging.models import Contact, ContactImport, ContactImportChunk, Message, OptOut

pytestmark = pytest.mark.django_db

ANA = "+14155552671"
BEN = "+14155552672"
CHLOE = "+33612345678"


def url(workspace, rest=""):
    return f"/api/ui/workspaces/{workspace.id}/contacts{rest}"


def add(client, workspace, **body):
    return client.post(url(workspace), body, format="json")


def test_a_member_adds_a_contact_and_reads_it_back(member_client, workspace):
    response = add(
        member_client,
        workspace,
        phone_number="+1 (415) 555-2671",
        name=" Ana ",
        fields={"city": "Paris"},
        tags=["VIP", "paris", "vip"],
    )
    assert response.status_code == 201, response.content
    contact = response.json()
    assert contact["id"].startswith("ct_")
    assert contact["phone_number"] == ANA
    assert contact["name"] == "Ana"
    assert contact["fields"] == {"city": "Paris"}
    assert contact["tags"] == ["paris", "vip"]
    assert contact["opted_out"] is False
    assert set(contact) == {
        "id",
        "phone_number",
        "name",
        "fields",
        "tags",
        "opted_out",
        "created_at",
        "updated_at",
    }
    assert member_client.get(url(workspace, f"/{contact['id']}")).json() == contact


def test_one_contact_per_number_and_numbers_must_be_valid(owner_client, workspace):
    assert add(owner_client, workspace, phone_number=ANA).status_code == 201
    assert_error(add(owner_client, workspace, phone_number="+14155552671"), 400, "invalid_params")
    assert_error(add(owner_client, workspace, phone_number="12"), 400, "invalid_phone_number")
    assert_error(add(owner_client, workspace), 400, "invalid_params")
    assert_error(add(owner_client, workspace, phone_number=BEN, fields={"a b": "x"}), 400, "invalid_params")
    assert_error(add(owner_client, workspace, phone_number=BEN, fields={"city": 3}), 400, "invalid_params")
    assert_error(add(owner_client, workspace, phone_number=BEN, tags="vip"), 400, "invalid_params")
    assert_error(add(owner_client, workspace, phone_number=BEN, name="a\r\nBcc: x"), 400, "invalid_params")
    assert Contact.objects.count() == 1


def test_the_list_searches_filters_by_tag_and_field_and_shows_opt_outs(owner_client, workspace):
    add(owner_client, workspace, phone_number=ANA, name="Ana Lima", fields={"city": "Paris"}, tags=["vip"])
    add(owner_client, workspace, phone_number=BEN, name="Ben", fields={"city": "Lyon"}, tags=["vip", "new"])
    add(owner_client, workspace, phone_number=CHLOE, name="Chloé", fields={"city": "Paris"})
    OptOut.objects.create(workspace=workspace, phone_number=BEN)

    def names(**params):
        body = owner_client.get(url(workspace), params).json()
        return [c["name"] for c in body["data"]], body["pagination"]["totalItems"]

    assert names() == (["Chloé", "Ben", "Ana Lima"], 3)
    assert names(search="lima") == (["Ana Lima"], 1)
    assert names(search="555-2672") == (["Ben"], 1)
    assert names(tag="vip") == (["Ben", "Ana Lima"], 2)
    assert names(tag=["vip", "new"]) == (["Ben"], 1)
    assert names(**{"field.city": "Paris"}) == (["Chloé", "Ana Lima"], 2)
    assert names(opted_out="true") == (["Ben"], 1)
    ben = owner_client.get(url(workspace), {"search": "Ben"}).json()["data"][0]
    assert ben["opted_out"] is True
    assert_error(owner_client.get(url(workspace), {"tag": "no spaces"}), 400, "invalid_params")
    assert_error(owner_client.get(url(workspace), {"opted_out": "maybe"}), 400, "invalid_params")


def test_a_contact_is_updated_and_deleted(owner_client, workspace):
    contact = add(owner_client, workspace, phone_number=ANA, name="Ana", tags=["a"]).json()
    changed = owner_client.patch(
        url(workspace, f"/{contact['id']}"), {"name": "Ana L.", "fields": {"plan": "gold"}}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "Ana L."
    assert changed.json()["fields"] == {"plan": "gold"}
    assert changed.json()["tags"] == ["a"]
    add(owner_client, workspace, phone_number=BEN)
    assert_error(
        owner_client.patch(url(workspace, f"/{contact['id']}"), {"phone_number": BEN}, format="json"),
        400,
        "invalid_params",
    )
    assert owner_client.delete(url(workspace, f"/{contact['id']}")).status_code == 204
    assert_error(owner_client.get(url(workspace, f"/{contact['id']}")), 404, "not_found")


def test_another_workspace_sees_and_changes_none_of_the_contacts(
    owner_client, outsider_client, workspace, other_workspace
):
    contact = add(owner_client, workspace, phone_number=ANA, name="Ana").json()
    assert outsider_client.get(url(other_workspace)).json()["data"] == []
    assert_error(outsider_client.get(url(workspace)), 404, "not_found")
    for method in ("get", "patch", "delete"):
        response = getattr(outsider_client, method)(
            url(other_workspace, f"/{contact['id']}"), {"name": "x"}, format="json"
        )
        assert_error(response, 404, "not_found")
    export = outsider_client.get(url(other_workspace, "/export"))
    assert ANA not in b"".join(export.streaming_content).decode()
    assert Contact.objects.get(pk=contact["id"]).name == "Ana"


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    """POST a CSV; the import task runs (in-process) once the request's transaction commits."""

    def post(client, workspace, text: str, *, as_body: bool = False):
        with django_capture_on_commit_callbacks(execute=True):
            if as_body:
                return client.generic(
                    "POST", url(workspace, "/import"), text.encode(), content_type="text/csv"
                )
            file = SimpleUploadedFile("people.csv", text.encode(), content_type="text/csv")
            return client.post(url(workspace, "/import"), {"file": file}, format="multipart")

    return post


def test_an_import_applies_good_rows_and_reports_each_bad_one(owner_client, workspace, upload):
    add(owner_client, workspace, phone_number=BEN, name="Ben", fields={"plan": "gold"})
    text = (
        "\ufeffphone_number,name,city,tags\n"
        f"{ANA},Ana,Paris,vip;new\n"
        "not-a-number,Nobody,Rome,\n"
        f"{BEN},Benjamin,Lyon,\n"
        "\n"
        f"+1 415 555 2671,Ana again,Nice,\n"
        f"{CHLOE},,Paris,\n"
    )
    response = upload(owner_client, workspace, text)
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["id"].startswith("imp_") and job["total_rows"] == 6
    # Tasks run in-process in the tests: the import is done when it answers.
    job = owner_client.get(url(workspace, f"/import/{job['id']}")).json()
    assert job["status"] == "completed"
    assert (job["created"], job["updated"], job["errors_count"]) == (2, 1, 2)
    assert [(e["row"], e["error"].split(";")[0].split(":")[0]) for e in job["errors"]] == [
        (2, "'not-a-number' is not a phone number"),
        (5, "Duplicate"),
    ]
    ana = Contact.objects.get(workspace=workspace, phone_number=ANA)
    assert (ana.name, ana.fields, ana.tags) == ("Ana", {"city": "Paris"}, ["new", "vip"])
    ben = Contact.objects.get(workspace=workspace, phone_number=BEN)
    assert (ben.name, ben.fields) == ("Benjamin", {"plan": "gold", "city": "Lyon"})
    assert Contact.objects.get(phone_number=CHLOE).name == ""
    assert not ContactImportChunk.objects.exists()


def test_an_import_takes_a_text_csv_body(owner_client, workspace, upload):
    response = upload(owner_client, workspace, f"name,phone_number\nAna,{ANA}", as_body=True)
    assert response.status_code == 202
    assert Contact.objects.get(workspace=workspace).name == "Ana"


def test_an_import_without_a_phone_number_column_fails_whole(owner_client, workspace, upload):
    job = upload(owner_client, workspace, f"number,name\n{ANA},Ana\n").json()
    job = owner_client.get(url(workspace, f"/import/{job['id']}")).json()
    assert job["status"] == "failed"
    assert "phone_number" in job["failure"]
    assert not Contact.objects.exists()


def test_an_import_refuses_an_empty_or_missing_file(owner_client, workspace, upload):
    assert_error(upload(owner_client, workspace, ""), 400, "invalid_params")
    assert_error(owner_client.post(url(workspace, "/import"), {}, format="multipart"), 400, "invalid_params")
    assert not ContactImport.objects.exists()


def test_an_import_resumes_after_the_last_applied_row(owner_client, workspace, monkeypatch, upload):
    rows = "".join(f"+1415555{n:04d},Person {n}\n" for n in range(2000, 2050))
    monkeypatch.setattr(contacts, "IMPORT_BATCH_ROWS", 10)
    calls = {"n": 0}
    apply_batch = contacts._apply_batch

    def dies_on_the_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return apply_batch(*args, **kwargs)

    monkeypatch.setattr(contacts, "_apply_batch", dies_on_the_third_batch)
    with pytest.raises(SystemExit):
        upload(owner_client, workspace, "phone_number,name\n" + rows + "+14155552000,Dup\n")
    job = ContactImport.objects.get()
    assert (job.status, job.processed_rows) == ("running", 20)
    assert Contact.objects.count() == 20
    contacts.contact_import_run(import_id=job.id)
    job.refresh_from_db()
    assert job.status == "completed"
    assert (job.created_count, job.error_count, Contact.objects.count()) == (50, 1, 50)
    assert job.errors[0]["row"] == 51


def test_contacts_export_as_csv_that_an_import_reads_back(owner_client, workspace):
    add(owner_client, workspace, phone_number=ANA, name="=cmd()", fields={"city": "Paris"}, tags=["vip"])
    add(owner_client, workspace, phone_number=BEN, name="Ben", fields={"plan": "gold"})
    response = owner_client.get(url(workspace, "/export"), {"tag": "vip"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["phone_number"], r["name"], r["tags"], r["city"]) for r in rows] == [
        (ANA, "'=cmd()", "vip", "Paris")
    ]
    everyone = b"".join(owner_client.get(url(workspace, "/export")).streaming_content).decode()
    assert everyone.splitlines()[0] == "phone_number,name,tags,opted_out,city,plan,created_at"


def test_the_messages_log_exports_as_csv_with_its_filters(owner_client, workspace, other_workspace):
    Message.objects.create(
        workspace=workspace,
        direction="outbound",
        status="delivered",
        to_number=ANA,
        from_number=BEN,
        body='hello, "you"',
    )
    Message.objects.create(
        workspace=workspace,
        direction="outbound",
        status="failed",
        to_number=ANA,
        from_number=BEN,
        body="failed one",
    )
    Message.objects.create(
        workspace=other_workspace,
        direction="outbound",
        status="delivered",
        to_number=ANA,
        from_number=BEN,
        body="not yours",
    )
    response = owner_client.get(f"/api/ui/workspaces/{workspace.id}/messages/export", {"status": "delivered"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["status"], r["body"], r["to"]) for r in rows] == [("delivered", 'hello, "you"', ANA)]
    assert_error(
        owner_client.get(f"/api/ui/workspaces/{workspace.id}/messages/export", {"status": "nope"}),
        400,
        "invalid_params",
    )


def test_an_export_reads_page_after_page_and_holds_no_cursor_open(owner_client, workspace, monkeypatch):
    monkeypatch.setattr(contacts, "EXPORT_CHUNK", 3)
    Contact.objects.bulk_create(
        [
            Contact(workspace=workspace, phone_number=f"+1415555{n:04d}", name=f"P{n}", fields={"n": str(n)})
            for n in range(3000, 3010)
        ]
    )
    response = owner_client.get(url(workspace, "/export"))
    stream = iter(response.streaming_content)
    header, first = next(stream).decode(), next(stream).decode()
    assert header.startswith("phone_number") and first
    # Half read, as when a client goes away: the connection still answers other queries.
    assert Contact.objects.count() == 10
    rows = list(csv.reader(io.StringIO(header + first + b"".join(stream).decode())))
    assert len(rows) == 11 and len({r[0] for r in rows[1:]}) == 10


def test_an_import_with_an_empty_text_csv_body_is_a_400(owner_client, workspace):
    response = owner_client.generic("POST", url(workspace, "/import"), b"", content_type="text/csv")
    assert_error(response, 400, "invalid_params")
    assert not ContactImport.objects.exists()


def test_an_import_larger_than_the_json_body_limit_is_taken(owner_client, workspace, upload, settings):
    rows = "".join(
        f"+1415555{n:04d},Person number {n} with a long name to fill the file\n" for n in range(0, 10000)
    )
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000  # the file is well past it
    response = upload(owner_client, workspace, "phone_number,name\n" + rows, as_body=True)
    assert response.status_code == 202, response.content
    assert Contact.objects.filter(workspace=workspace).count() == 10000
