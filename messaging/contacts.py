"""Contacts: the people a workspace messages, their fields and tags; CSV import and export.

One contact per phone number per workspace. Whether a contact opted out is read from the
workspace's OptOut list (one source of truth, kept by the consent keywords), never copied here.
"""

import codecs
import contextlib
import csv
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from messaging_platform.errors import invalid_params
from numbers.phone import InvalidPhoneNumber, normalize_e164
from workspaces.models import Workspace
from workspaces.selectors import in_workspace

from .enqueue import enqueue_contact_import
from .list_counts import contact_seek, contact_total, windowed, with_total
from .models import Contact, ContactImport, ContactImportChunk, ImportStatus, OptOut

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 200
MAX_FIELDS = 50
MAX_FIELD_NAME_LENGTH = 64
MAX_FIELD_VALUE_LENGTH = 1000
MAX_TAGS = 50
MAX_SEARCH_LENGTH = 200
TAG = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
# Columns of an import that are the contact itself rather than one of its fields.
RESERVED_COLUMNS = {"phone_number", "name", "tags"}

IMPORT_MAX_ROWS = 100_000
IMPORT_CHUNK_BYTES = 256 * 1024
IMPORT_BATCH_ROWS = 1000
IMPORT_MAX_ERRORS_KEPT = 1000


# Validation, shared by the API, the import and the pages -------------------------------------


def clean_name(raw) -> str:
    if not isinstance(raw, str):
        raise invalid_params("name must be a string.", {"name": ["Must be a string."]})
    name = raw.strip()
    if len(name) > MAX_NAME_LENGTH or any(ord(ch) < 32 for ch in name):
        raise invalid_params(
            f"name must be at most {MAX_NAME_LENGTH} characters, without control characters.",
            {"name": ["Too long, or holds control characters."]},
        )
    return name


def clean_fields(raw) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise invalid_params("fields must be an object of strings.", {"fields": ["Must be an object."]})
    if len(raw) > MAX_FIELDS:
        raise invalid_params(f"At most {MAX_FIELDS} fields.", {"fields": [f"At most {MAX_FIELDS}."]})
    fields = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not FIELD_NAME.fullmatch(key) or key in RESERVED_COLUMNS:
            raise invalid_params(
                f"{str(key)[:64]!r} cannot be a field name: use letters, digits, _ "
                "and -, starting with a letter (not name, phone_number or tags).",
                {"fields": ["Bad field name."]},
            )
        if not isinstance(value, str) or len(value) > MAX_FIELD_VALUE_LENGTH or "\x00" in value:
            raise invalid_params(
                f"The field {key} must be a string of at most {MAX_FIELD_VALUE_LENGTH} characters.",
                {"fields": [f"Bad value for {key}."]},
            )
        fields[key] = value
    return fields


def clean_tags(raw) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise invalid_params("tags must be a list of strings.", {"tags": ["Must be a list of strings."]})
    tags = sorted({t.strip().lower() for t in raw})
    if len(tags) > MAX_TAGS or not all(TAG.fullmatch(t) for t in tags):
        raise invalid_params(
            f"At most {MAX_TAGS} tags, each a word of letters, digits, _ and - (up to 50 characters).",
            {"tags": ["Bad tag."]},
        )
    return tags


def clean_tag(raw: str) -> str:
    tag = raw.strip().lower()
    if not TAG.fullmatch(tag):
        raise invalid_params("tag must be a word of letters, digits, _ and -.", {"tag": ["Bad tag."]})
    return tag


# Reads -----------------------------------------------------------------------------------------


def with_opt_out(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    opted = OptOut.objects.filter(
        workspace_id=OuterRef("workspace_id"), phone_number=OuterRef("phone_number")
    )
    return contacts.annotate(opted_out=Exists(opted))


def has_tag(tag: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(tags__contains=[tag])
    # Elsewhere the JSON is text: a tag is a quoted word in it (tags are [a-z0-9_-] only).
    return Q(tags__icontains=f'"{tag}"')


def contact_list(
    *,
    workspace: Workspace,
    search: str = "",
    tags: Iterable[str] = (),
    fields: dict[str, str] | None = None,
    opted_out: bool | None = None,
) -> QuerySet[Contact]:
    """The workspace's contacts, newest first: `search` in the name or number, every tag of `tags`,
    each `fields` key equal to its value."""
    if len(search) > MAX_SEARCH_LENGTH:
        raise invalid_params(
            f"search must be at most {MAX_SEARCH_LENGTH} characters.", {"search": ["Too long."]}
        )
    contacts = with_opt_out(Contact.objects.for_workspace(workspace))
    if search := search.strip():
        digits = re.sub(r"[^\d+]", "", search)
        match = Q(name__icontains=search)
        if len(digits) >= 3:
            match |= Q(phone_number__contains=digits)
        contacts = contacts.filter(match)
    tags = list(tags)
    for tag in tags:
        contacts = contacts.filter(has_tag(clean_tag(tag)))
    for key, value in (fields or {}).items():
        if not FIELD_NAME.fullmatch(key):
            raise invalid_params(f"{key[:64]!r} is not a field name.", {"fields": ["Bad field name."]})
        contacts = contacts.filter(**{f"fields__{key}": value})
    if opted_out is not None:
        # The plugin does not see the `opted_out` annotation with_opt_out adds.
        contacts = contacts.filter(opted_out=opted_out)  # type: ignore[misc]
    contacts = contacts.order_by("-created_at", "-id")
    if search:
        # A trigram index finds the matches: once, for the count and the page alike.
        return windowed(contacts)
    if tags or fields or opted_out is not None:
        return contacts
    return with_total(
        contacts,
        lambda: contact_total(workspace_id=workspace.pk),
        seek=lambda found, offset: contact_seek(found, offset, workspace_id=workspace.pk),
    )


def access_contact(*, workspace: Workspace, contact_id: str) -> Contact:
    contact = in_workspace(Contact.objects, workspace=workspace, pk=contact_id, missing="Contact not found.")
    return with_opt_out(Contact.objects.filter(pk=contact.pk)).get()


def contact_names(*, workspace_id: str, phone_numbers: Iterable[str]) -> dict[str, str]:
    """Name by phone number, for the contacts that have one (inbox, messages log)."""
    numbers = set(phone_numbers)
    if not numbers:
        return {}
    return dict(
        Contact.objects.filter(workspace_id=workspace_id, phone_number__in=numbers)
        .exclude(name="")
        .values_list("phone_number", "name")
    )


# Writes ----------------------------------------------------------------------------------------


@transaction.atomic
def contact_create(
    *,
    workspace: Workspace,
    phone_number: str,
    name: str = "",
    fields: dict | None = None,
    tags: list | None = None,
) -> Contact:
    number = normalize_e164(phone_number, field="phone_number")
    if Contact.objects.for_workspace(workspace).filter(phone_number=number).exists():
        raise invalid_params(
            f"A contact with the number {number} exists already.",
            {"phone_number": ["A contact with this number exists already."]},
        )
    contact = Contact.objects.create(
        workspace=workspace,
        phone_number=number,
        name=clean_name(name),
        fields=clean_fields(fields or {}),
        tags=clean_tags(tags or []),
    )
    return access_contact(workspace=workspace, contact_id=contact.id)


@transaction.atomic
def contact_update(*, contact: Contact, changes: dict) -> Contact:
    """Change what `changes` names (phone_number, name, fields (replaced whole), tags)."""
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    if "phone_number" in changes:
        number = normalize_e164(changes["phone_number"], field="phone_number")
        if (
            number != locked.phone_number
            and Contact.objects.filter(workspace_id=locked.workspace_id, phone_number=number).exists()
        ):
            raise invalid_params(
                f"A contact with the number {number} exists already.",
                {"phone_number": ["A contact with this number exists already."]},
            )
        locked.phone_number = number
    if "name" in changes:
        locked.name = clean_name(changes["name"])
    if "fields" in changes:
        locked.fields = clean_fields(changes["fields"])
    if "tags" in changes:
        locked.tags = clean_tags(changes["tags"])
    locked.save()
    return access_contact(workspace=locked.workspace, contact_id=locked.id)


def contact_delete(*, contact: Contact) -> None:
    contact.delete()


def contacts_ensure(*, workspace_id: str, phone_numbers: Iterable[str]) -> None:
    """Create a bare contact for each number that has none (an inbound message from a stranger)."""
    numbers = sorted(set(phone_numbers))
    if numbers:
        Contact.objects.bulk_create(
            [Contact(workspace_id=workspace_id, phone_number=n) for n in numbers], ignore_conflicts=True
        )


# Import ----------------------------------------------------------------------------------------


def contact_import_start(
    *, workspace: Workspace, stream: Iterable[bytes], filename: str = "", created_by=None
) -> ContactImport:
    """Store an uploaded CSV in chunks and have a worker apply it; answers at once.

    The file is read as a stream (never whole in memory) and refused past settings.CONTACT_IMPORT_MAX_BYTES or
    IMPORT_MAX_ROWS data rows."""
    with transaction.atomic():
        job = ContactImport.objects.create(
            workspace=workspace, filename=filename[:200], created_by=created_by
        )
        newlines = size = seq = 0
        last = b""
        buffer = bytearray()
        for piece in stream:
            if not piece:
                continue
            size += len(piece)
            if size > settings.CONTACT_IMPORT_MAX_BYTES:
                megabytes = settings.CONTACT_IMPORT_MAX_BYTES // (1024 * 1024)
                raise invalid_params(f"The file is larger than {megabytes} MB.", {"file": ["Too large."]})
            newlines += piece.count(b"\n")
            last = piece[-1:]
            buffer += piece
            while len(buffer) >= IMPORT_CHUNK_BYTES:
                ContactImportChunk.objects.create(
                    contact_import=job, seq=seq, data=bytes(buffer[:IMPORT_CHUNK_BYTES])
                )
                del buffer[:IMPORT_CHUNK_BYTES]
                seq += 1
        if buffer:
            ContactImportChunk.objects.create(contact_import=job, seq=seq, data=bytes(buffer))
        if size == 0:
            raise invalid_params(
                "The file is empty: it needs a header row with phone_number.", {"file": ["Empty file."]}
            )
        lines = newlines + (0 if last == b"\n" else 1)
        job.total_rows = max(0, lines - 1)
        if job.total_rows > IMPORT_MAX_ROWS:
            raise invalid_params(
                f"At most {IMPORT_MAX_ROWS:,} rows per import.", {"file": ["Too many rows."]}
            )
        job.save(update_fields=["total_rows"])
        transaction.on_commit(lambda: enqueue_contact_import(job.id))
    return job


def access_contact_import(*, workspace: Workspace, import_id: str) -> ContactImport:
    return in_workspace(ContactImport.objects, workspace=workspace, pk=import_id, missing="Import not found.")


def _chunks(job: ContactImport) -> Iterator[bytes]:
    last = -1
    while True:
        chunk = (
            ContactImportChunk.objects.filter(contact_import=job, seq__gt=last)
            .order_by("seq")
            .values_list("seq", "data")
            .first()
        )
        if chunk is None:
            return
        last = chunk[0]
        yield bytes(chunk[1])


def _lines(job: ContactImport) -> Iterator[str]:
    """The upload's text, line by line, decoded as UTF-8 (a BOM is dropped) as it streams."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    pending = ""
    for chunk in _chunks(job):
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


@dataclass
class _Row:
    number: int  # 1 is the first data row
    phone_number: str
    name: str | None
    fields: dict[str, str]
    tags: list[str] | None


def _parse_row(number: int, header: list[str], cells: list[str]) -> _Row:
    values = dict(zip(header, cells, strict=False))
    raw_phone = values.get("phone_number", "").strip()
    if not raw_phone:
        raise ValueError("phone_number is empty.")
    try:
        phone = normalize_e164(raw_phone)
    except InvalidPhoneNumber as exc:
        raise ValueError(str(exc.detail)) from None
    name = values.get("name")
    fields = {k: v.strip() for k, v in values.items() if k not in RESERVED_COLUMNS and k and v.strip()}
    try:
        clean_name(name or "")
        clean_fields(fields)
        # A CSV cell holds its tags separated by ; (or ,): "vip; paris".
        tags = (
            clean_tags([t for t in re.split(r"[;,]", values["tags"]) if t.strip()])
            if "tags" in values
            else None
        )
    except Exception as exc:  # a DomainError with the reason
        raise ValueError(str(getattr(exc, "detail", exc))) from None
    return _Row(number, phone, name.strip() if name is not None else None, fields, tags)


def _read_header(cells: list[str]) -> list[str]:
    header = [h.strip().lower() if h.strip().lower() in RESERVED_COLUMNS else h.strip() for h in cells]
    if "phone_number" not in header:
        raise ValueError("The header row has no phone_number column.")
    for column in header:
        if column and column not in RESERVED_COLUMNS and not FIELD_NAME.fullmatch(column):
            raise ValueError(
                f"The column {column[:64]!r} cannot be a field name: use letters, "
                "digits, _ and -, starting with a letter."
            )
    return header


def contact_import_run(*, import_id: str) -> None:
    """Apply an import from the row after the last applied one. Each batch of rows is upserted in
    one transaction with the import's progress, so a row is never half applied and a worker that
    dies mid-way resumes where the last commit left off."""
    job = ContactImport.objects.filter(pk=import_id, status=ImportStatus.RUNNING).first()
    if job is None:
        return
    rows = csv.reader(_lines(job))
    try:
        header_cells = next(rows, None)
        if header_cells is None:
            raise ValueError("The file is empty.")
        header = _read_header(header_cells)
    except (ValueError, csv.Error) as exc:
        _import_fail(job, str(exc))
        return
    seen: set[str] = set()
    batch: list[_Row] = []
    errors: list[dict] = []
    number = 0
    try:
        for cells in rows:
            number += 1  # rows are numbered as in the file, the first after the header being 1
            if number > IMPORT_MAX_ROWS:
                break
            if not any(c.strip() for c in cells):
                continue  # a blank line
            if number <= job.processed_rows:
                # Applied before a restart: only remember its number for the duplicate check.
                with contextlib.suppress(ValueError):
                    seen.add(_parse_row(number, header, cells).phone_number)
                continue
            try:
                row = _parse_row(number, header, cells)
            except ValueError as exc:
                errors.append(
                    {
                        "row": number,
                        "phone_number": (
                            cells[header.index("phone_number")]
                            if len(cells) > header.index("phone_number")
                            else ""
                        )[:64],
                        "error": str(exc)[:300],
                    }
                )
            else:
                if row.phone_number in seen:
                    errors.append(
                        {
                            "row": number,
                            "phone_number": row.phone_number,
                            "error": "Duplicate: this number is on an earlier row.",
                        }
                    )
                else:
                    seen.add(row.phone_number)
                    batch.append(row)
            if len(batch) + len(errors) >= IMPORT_BATCH_ROWS:
                _apply_batch(job, batch, errors, processed=number)
                batch, errors = [], []
    except csv.Error as exc:
        _apply_batch(job, batch, errors, processed=number)
        _import_fail(job, f"The file is not valid CSV after row {number}: {exc}")
        return
    _apply_batch(job, batch, errors, processed=number)
    ContactImport.objects.filter(pk=job.pk).update(
        status=ImportStatus.COMPLETED, finished_at=timezone.now(), updated_at=timezone.now()
    )
    ContactImportChunk.objects.filter(contact_import=job).delete()


def sweep_contact_imports(*, stalled_seconds: int = 120) -> int:
    """Have a worker resume imports that made no progress for a while (a lost task, a dead worker)."""
    cutoff = timezone.now() - timedelta(seconds=stalled_seconds)
    stalled = list(
        ContactImport.objects.filter(status=ImportStatus.RUNNING, updated_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:100]
    )
    for import_id in stalled:
        ContactImport.objects.filter(pk=import_id).update(updated_at=timezone.now())
        enqueue_contact_import(import_id)
    return len(stalled)


def _import_fail(job: ContactImport, reason: str) -> None:
    ContactImport.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED,
        failure=reason[:1000],
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    ContactImportChunk.objects.filter(contact_import=job).delete()


@transaction.atomic
def _apply_batch(job: ContactImport, batch: list[_Row], errors: list[dict], *, processed: int) -> None:
    locked = ContactImport.objects.select_for_update().get(pk=job.pk)
    if locked.status != ImportStatus.RUNNING or processed <= locked.processed_rows:
        return
    existing = {
        c.phone_number: c
        for c in Contact.objects.filter(
            workspace_id=job.workspace_id, phone_number__in=[r.phone_number for r in batch]
        )
    }
    now = timezone.now()
    upserts = []
    for row in batch:
        contact = existing.get(row.phone_number)
        if contact is None:
            contact = Contact(
                workspace_id=job.workspace_id,
                phone_number=row.phone_number,
                name=row.name or "",
                fields=row.fields,
                tags=row.tags or [],
                created_at=now,
            )
        else:
            # An import adds to what is known: the columns it has replace, the others stay.
            contact.name = row.name if row.name is not None else contact.name
            contact.fields = {**contact.fields, **row.fields}
            if row.tags is not None:
                contact.tags = sorted(set(contact.tags) | set(row.tags))
        contact.updated_at = now
        upserts.append(contact)
    if upserts:
        Contact.objects.bulk_create(
            upserts,
            update_conflicts=True,
            unique_fields=["workspace", "phone_number"],
            update_fields=["name", "fields", "tags", "updated_at"],
        )
    created = sum(1 for r in batch if r.phone_number not in existing)
    locked.processed_rows = processed
    locked.created_count += created
    locked.updated_count += len(batch) - created
    locked.error_count += len(errors)
    room = IMPORT_MAX_ERRORS_KEPT - len(locked.errors)
    if room > 0:
        locked.errors = locked.errors + errors[:room]
    locked.save(
        update_fields=[
            "processed_rows",
            "created_count",
            "updated_count",
            "error_count",
            "errors",
            "updated_at",
        ]
    )
    job.processed_rows = processed


# Export ----------------------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


EXPORT_CHUNK = 2000


def newest_first_in_chunks(rows: QuerySet, size: int | None = None) -> Iterator:
    """Every row of a queryset ordered by (-created_at, -id), a page at a time by keyset: a streamed
    export holds no server-side cursor open between reads, and never scans past its page."""
    last = None
    while True:
        page = (
            rows
            if last is None
            else rows.filter(
                Q(created_at__lt=last.created_at) | Q(created_at=last.created_at, id__lt=last.id)
            )
        )
        chunk = list(page[: size or EXPORT_CHUNK])
        yield from chunk
        if len(chunk) < (size or EXPORT_CHUNK):
            return
        last = chunk[-1]


def _field_names(contacts: QuerySet[Contact]) -> list[str]:
    keys: set[str] = set()
    for contact in newest_first_in_chunks(contacts.exclude(fields={}).only("id", "created_at", "fields")):
        keys.update(contact.fields)
    return sorted(keys)


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: a quote keeps it text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def contacts_csv(contacts: QuerySet[Contact]) -> Iterator[str]:
    """The contacts as CSV rows (header first), streamed; columns as an import reads them."""
    field_names = _field_names(contacts)
    writer = csv.writer(_Echo())
    yield writer.writerow(["phone_number", "name", "tags", "opted_out", *field_names, "created_at"])
    for contact in newest_first_in_chunks(contacts):
        yield writer.writerow(
            [
                contact.phone_number,
                _safe_cell(contact.name),
                ";".join(contact.tags),
                "true" if contact.opted_out else "false",
                *(_safe_cell(str(contact.fields.get(k, ""))) for k in field_names),
                contact.created_at.isoformat().replace("+00:00", "Z"),
            ]
        )


def messages_csv(messages) -> Iterator[str]:
    """The messages log as CSV, streamed, newest first as the list is."""
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [
            "id",
            "created_at",
            "direction",
            "from",
            "to",
            "status",
            "body",
            "num_segments",
            "encoding",
            "error_code",
            "error_message",
            "provider_sid",
            "sent_at",
            "delivered_at",
        ]
    )

    def moment(value) -> str:
        return value.isoformat().replace("+00:00", "Z") if value else ""

    for m in newest_first_in_chunks(messages):
        yield writer.writerow(
            [
                m.id,
                moment(m.created_at),
                m.direction,
                m.from_number or m.messaging_service_sid,
                m.to_number,
                m.status,
                _safe_cell(m.body),
                m.num_segments,
                m.encoding,
                m.error_code or "",
                _safe_cell(m.error_message or ""),
                m.provider_sid or "",
                moment(m.sent_at),
                moment(m.delivered_at),
            ]
        )


def read_upload(uploaded) -> Iterator[bytes]:
    """An uploaded file (Django's UploadedFile) or a request body stream, in pieces (none for a
    request without a body)."""
    if uploaded is None:
        return
    if hasattr(uploaded, "chunks"):
        yield from uploaded.chunks(IMPORT_CHUNK_BYTES)
        return
    while piece := uploaded.read(IMPORT_CHUNK_BYTES):
        yield piece
