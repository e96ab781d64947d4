"""Idempotency-Key support for any POST that creates something.

The same key with the same request within 24 hours replays the first answer and creates nothing;
with a different request it is a 409. The view's work and the record commit together, so of two
concurrent requests with one key only one takes effect.
"""

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from messaging_platform.errors import DomainError, invalid_params

from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class _LostRace(Exception):
    pass


def _scope(request) -> str:
    api_key = getattr(request.user, "api_key", None)
    if api_key is not None:
        return f"key:{api_key.pk}"
    return f"usr:{request.user.pk}"


def _fingerprint(request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, default=str)
    except TypeError:
        body = repr(request.data)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise DomainError(
            "idempotency_conflict", "This Idempotency-Key was already used with a different request."
        )
    response = Response(json.loads(record.body), status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def _cutoff():
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)


def _live_record(scope: str, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(scope=scope, key=key, created_at__gte=_cutoff()).first()


def idempotent(handler):
    """Decorates a POST handler of an APIView."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise invalid_params(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.")
        scope, fingerprint = _scope(request), _fingerprint(request)
        record = _live_record(scope, key)
        if record is not None:
            return _replay(record, fingerprint)
        try:
            with transaction.atomic():
                # Only an expired record goes: a live one was committed by a concurrent request
                # since the check above, and our insert below must collide with it.
                IdempotencyRecord.objects.filter(scope=scope, key=key, created_at__lt=_cutoff()).delete()
                response = handler(view, request, *args, **kwargs)
                if response.status_code < 500:
                    try:
                        with transaction.atomic():
                            IdempotencyRecord.objects.create(
                                scope=scope,
                                key=key,
                                fingerprint=fingerprint,
                                status_code=response.status_code,
                                body=json.dumps(response.data, cls=DjangoJSONEncoder),
                            )
                    except IntegrityError:
                        raise _LostRace  # another request with this key committed first
        except _LostRace:
            record = _live_record(scope, key)
            if record is None:  # pragma: no cover - the winner's record is committed
                raise DomainError("idempotency_conflict", "A request with this key is in progress.")
            return _replay(record, fingerprint)
        return response

    wrapper.idempotent = True  # the OpenAPI schema documents the header
    return wrapper


def purge_expired_idempotency_records() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=_cutoff()).delete()
    return deleted
