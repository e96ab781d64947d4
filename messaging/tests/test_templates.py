import pytest

from conftest import assert_error
from messaging import templating
from messaging.models import Contact, MessageTemplate

pytestmark = pytest.mark.django_db


def url(workspace, rest=""):
    return f"/api/ui/workspaces/{workspace.id}/templates{rest}"


@pytest.mark.parametrize(
    ("body", "values", "expected"),
    [
        ("Hi {{name}}!", {"name": "Ana"}, "Hi Ana!"),
        ("Hi {{ name | there }}!", {}, "Hi there!"),
        ("Hi {{name|there}}!", {"name": ""}, "Hi there!"),
        ("See you in {{city}}, {{name}}", {"city": "Paris", "name": "Ana"}, "See you in Paris, Ana"),
        ("{{a}}{{a}}", {"a": "x"}, "xx"),
        ("No variables {at} all", {}, "No variables {at} all"),
        ("{{name}}", {"name": "{{city}}", "city": "Paris"}, "{{city}}"),  # values are not re-read
    ],
)
def test_templates_render_variables_and_defaults(body, values, expected):
    assert templating.render(body, values) == expected


def test_a_missing_variable_without_a_default_is_named():
    with pytest.raises(templating.TemplateError) as caught:
        templating.render("Hi {{name}} from {{city}}", {"name": "Ana"})
    assert caught.value.variable == "city"
    assert "{{city}}" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        "{{name.__class__}}",
        "{{ 1 + 1 }}",
        "{{name[0]}}",
        "Hi {{name",
        "{{}}",
        "{{ name | a | b }}x{{__import__('os')}}",
    ],
)
def test_anything_but_a_plain_variable_is_refused(body):
    with pytest.raises(templating.TemplateError):
        templating.check_syntax(body)


def test_the_description_names_costly_characters_and_the_smart_encoding():
    rendering = templating.describe("It\u2019s 20\u20ac \u2014 see you")
    assert rendering.encoding == "UCS-2"
    costly = {c.character: (c.reason, c.replacement) for c in rendering.costly_characters}
    assert costly == {"\u2019": ("ucs2", "'"), "\u20ac": ("extension", None), "\u2014": ("ucs2", "-")}
    assert rendering.smart_encoded == "It's 20\u20ac - see you"
    assert rendering.smart_encoded_segments == 1
    assert templating.describe("😀 fun").smart_encoded is None  # no GSM-7 form of an emoji


def test_a_member_keeps_templates_and_another_workspace_sees_none(
    member_client, outsider_client, workspace, other_workspace
):
    created = member_client.post(
        url(workspace), {"name": "Welcome", "body": "Hi {{name|there}}"}, format="json"
    )
    assert created.status_code == 201, created.content
    template = created.json()
    assert template["id"].startswith("tpl_")
    assert template["variables"] == ["name"]
    assert member_client.get(url(workspace)).json()["data"] == [template]
    changed = member_client.patch(
        url(workspace, f"/{template['id']}"), {"body": "Hello {{name}} in {{city}}"}, format="json"
    )
    assert changed.json()["variables"] == ["name", "city"]
    assert changed.json()["name"] == "Welcome"
    assert_error(
        member_client.post(url(workspace), {"name": "Bad", "body": "Hi {{name.x}}"}, format="json"),
        400,
        "invalid_params",
    )
    assert_error(
        member_client.post(url(workspace), {"name": "", "body": "x"}, format="json"), 400, "invalid_params"
    )
    for method in ("get", "patch", "delete"):
        assert_error(
            getattr(outsider_client, method)(
                url(other_workspace, f"/{template['id']}"), {"name": "x"}, format="json"
            ),
            404,
            "not_found",
        )
    assert outsider_client.get(url(other_workspace)).json()["data"] == []
    assert member_client.delete(url(workspace, f"/{template['id']}")).status_code == 204
    assert not MessageTemplate.objects.exists()


def test_the_preview_renders_per_contact_and_names_a_missing_variable(
    owner_client, workspace, other_workspace
):
    ana = Contact.objects.create(
        workspace=workspace, phone_number="+14155552671", name="Ana", fields={"city": "Paris"}
    )
    ben = Contact.objects.create(workspace=workspace, phone_number="+14155552672", name="Ben")
    stranger = Contact.objects.create(workspace=other_workspace, phone_number="+14155552673")
    response = owner_client.post(
        url(workspace, "/preview"),
        {"body": "Hi {{name}}, see you in {{city}} \u2019", "contact_ids": [ana.id, ben.id]},
        format="json",
    )
    assert response.status_code == 200, response.content
    first, second = response.json()["renderings"]
    assert first["contact_id"] == ana.id
    assert first["text"] == "Hi Ana, see you in Paris \u2019"
    assert (first["encoding"], first["num_segments"], first["characters"]) == ("UCS-2", 1, 26)
    assert first["smart_encoded"] == "Hi Ana, see you in Paris '"
    assert second == {
        "contact_id": ben.id,
        "variable": "city",
        "error": "The variable {{city}} has no value and no default.",
    }
    assert_error(
        owner_client.post(
            url(workspace, "/preview"), {"body": "x", "contact_ids": [stranger.id]}, format="json"
        ),
        400,
        "invalid_params",
    )
    sample = owner_client.post(
        url(workspace, "/preview"), {"body": "Hi {{name}}", "variables": {"name": "Zoe"}}, format="json"
    )
    assert sample.json()["renderings"][0]["text"] == "Hi Zoe"
