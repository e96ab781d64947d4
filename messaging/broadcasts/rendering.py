"""A broadcast's body rendered for its contacts: the preview, and the renderer the workers use."""

from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform

from .. import message_templates, templating
from ..models import Broadcast, Contact
from ..segments import MAX_BODY_CHARACTERS, count_segments
from .reading import audience_contacts

MAX_SKIPPED_KEPT = 100
SAMPLE_RENDERINGS = 5


def broadcast_preview(*, broadcast: Broadcast) -> dict:
    """What the broadcast would send now: sample renderings, totals of messages and segments, and
    the contacts it would skip, and why."""
    messages = segments = opted_out = invalid = 0
    samples: list[dict] = []
    skipped: list[dict] = []
    render = _Renderer(broadcast.body)
    rows = render.rows(audience_contacts(broadcast.workspace_id, broadcast.audience)).iterator(
        chunk_size=2000
    )
    for row in rows:
        try:
            text = render(row)
        except _Skip as skip:
            opted_out += skip.opted_out
            invalid += not skip.opted_out
            if len(skipped) < MAX_SKIPPED_KEPT:
                skipped.append({"contact_id": row[0], "phone_number": row[1], "reason": str(skip)})
            continue
        messages += 1
        if len(samples) < SAMPLE_RENDERINGS:
            rendering = templating.describe(text)
            segments += rendering.num_segments
            samples.append({"contact_id": row[0], **message_templates.rendering_data(rendering)})
        else:
            segments += count_segments(text).num_segments
    return {
        "messages": messages,
        "segments": segments,
        "skipped_opted_out": opted_out,
        "skipped_invalid": invalid,
        "samples": samples,
        "skipped": skipped,
    }


class _Renderer:
    """A broadcast's body for many contacts: `rows` reads of each contact only what the body uses
    (its id, number, name, whether it opted out, and the fields it names, as text: no JSON
    decoded), and calling it on a row renders it (templating.compile_template's rules)."""

    def __init__(self, body: str):
        self.render = templating.compile_template(body)
        self.fields = [v for v in templating.check_syntax(body) if v not in ("name", "phone_number")]

    def rows(self, contacts: QuerySet[Contact]) -> QuerySet:
        named = {f"field_{i}": KeyTextTransform(name, "fields") for i, name in enumerate(self.fields)}
        return contacts.annotate(**named).values_list("id", "phone_number", "name", "opted_out", *named)

    def __call__(self, row: tuple) -> str:
        """The contact's text. Raises _Skip when the contact gets none (opted out, a template
        error, an empty or too long rendering)."""
        _, phone_number, name, opted_out, *values = row
        if opted_out:
            raise _Skip("The contact opted out.", opted_out=True)
        try:
            text = self.render(name, phone_number, dict(zip(self.fields, values, strict=True)))
        except templating.TemplateError as exc:
            raise _Skip(str(exc)) from None
        if not text.strip():
            raise _Skip("The message renders empty.")
        if len(text) > MAX_BODY_CHARACTERS:
            raise _Skip(f"The message renders longer than {MAX_BODY_CHARACTERS:,} characters.")
        return text


class _Skip(Exception):
    def __init__(self, reason: str, *, opted_out: bool = False):
        super().__init__(reason)
        self.opted_out = opted_out
