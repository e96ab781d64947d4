"""Message templates of a workspace: create, change, delete, and render them for contacts."""

from django.db.models import QuerySet

from messaging_platform.errors import invalid_params
from workspaces.models import Workspace
from workspaces.selectors import in_workspace

from . import templating
from .models import Contact, MessageTemplate
from .segments import MAX_BODY_CHARACTERS

MAX_NAME_LENGTH = 200
MAX_PREVIEW_CONTACTS = 20


def variables_of(body: str) -> list[str]:
    try:
        return templating.check_syntax(body)
    except templating.TemplateError:
        return []


def _clean(name, body) -> tuple[str, str]:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME_LENGTH:
        raise invalid_params(
            f"name is required, at most {MAX_NAME_LENGTH} characters.",
            {"name": ["Required, at most 200 characters."]},
        )
    return name.strip(), clean_body(body)


def clean_body(body) -> str:
    if not isinstance(body, str) or not body.strip():
        raise invalid_params("body is required.", {"body": ["Required."]})
    if len(body) > MAX_BODY_CHARACTERS or "\x00" in body:
        raise invalid_params(
            f"body must be at most {MAX_BODY_CHARACTERS} characters.",
            {"body": [f"At most {MAX_BODY_CHARACTERS} characters."]},
        )
    try:
        templating.check_syntax(body)
    except templating.TemplateError as exc:
        raise invalid_params(str(exc), {"body": [str(exc)]}) from None
    return body


def template_list(*, workspace: Workspace) -> QuerySet[MessageTemplate]:
    return MessageTemplate.objects.for_workspace(workspace).order_by("name", "created_at", "id")


def access_template(*, workspace: Workspace, template_id: str) -> MessageTemplate:
    return in_workspace(
        MessageTemplate.objects, workspace=workspace, pk=template_id, missing="Template not found."
    )


def template_create(*, workspace: Workspace, name, body) -> MessageTemplate:
    name, body = _clean(name, body)
    return MessageTemplate.objects.create(workspace=workspace, name=name, body=body)


def template_update(*, template: MessageTemplate, name=None, body=None) -> MessageTemplate:
    name, body = _clean(template.name if name is None else name, template.body if body is None else body)
    template.name, template.body = name, body
    template.save()
    return template


def template_delete(*, template: MessageTemplate) -> None:
    template.delete()


def rendering_data(rendering: templating.Rendering) -> dict:
    return {
        "text": rendering.text,
        "characters": rendering.characters,
        "num_segments": rendering.num_segments,
        "encoding": rendering.encoding,
        "costly_characters": [
            {"character": c.character, "reason": c.reason, "replacement": c.replacement}
            for c in rendering.costly_characters
        ],
        "smart_encoded": rendering.smart_encoded,
        "smart_encoded_segments": rendering.smart_encoded_segments,
    }


def render_for(body: str, values: dict[str, str]) -> dict:
    """One preview entry: the rendering, or the error naming the missing variable."""
    try:
        return rendering_data(templating.describe(templating.render(body, values)))
    except templating.TemplateError as exc:
        return {"error": str(exc), "variable": exc.variable}


def template_preview(
    *, workspace: Workspace, body=None, template_id=None, contact_ids=None, variables=None
) -> list[dict]:
    """How a body (or a saved template) renders for some contacts or for one set of values."""
    if template_id is not None:
        if not isinstance(template_id, str):
            raise invalid_params("template_id must be a string.", {"template_id": ["Must be a string."]})
        body = access_template(workspace=workspace, template_id=template_id).body
    body = clean_body(body)
    if contact_ids is not None:
        if (
            not isinstance(contact_ids, list)
            or not all(isinstance(i, str) for i in contact_ids)
            or len(contact_ids) > MAX_PREVIEW_CONTACTS
        ):
            raise invalid_params(
                f"contact_ids must be a list of up to {MAX_PREVIEW_CONTACTS} ids.",
                {"contact_ids": ["A list of contact ids."]},
            )
        found = {c.id: c for c in Contact.objects.for_workspace(workspace).filter(pk__in=contact_ids)}
        missing = [i for i in contact_ids if i not in found]
        if missing:
            raise invalid_params(
                f"No contact {missing[0]} in this workspace.", {"contact_ids": ["Unknown contact."]}
            )
        return [
            {"contact_id": i, **render_for(body, templating.contact_values(found[i]))} for i in contact_ids
        ]
    if variables is not None and (
        not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values())
    ):
        raise invalid_params("variables must be an object of strings.", {"variables": ["Must be an object."]})
    return [render_for(body, variables or {})]
