"""Schemathesis against our own OpenAPI schema, in process, against the WSGI app.

Used by the test suite (few examples) and by bench/fuzz_api.py (many). Every example runs in a
savepoint that is rolled back, so a fuzzed DELETE of the workspace does not starve the examples
after it. Failures are collected, not raised, so that one run reports every finding with counts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class FuzzReport:
    operations: list[str] = field(default_factory=list)
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    schema_violations: Counter = field(default_factory=Counter)  # (operation, check) → count
    violation_samples: dict[str, str] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "operations_covered": len(self.operations),
            "requests_sent": self.requests,
            "status_codes": dict(sorted(self.statuses.items())),
            "5xx": len(self.server_errors),
            "schema_violations": sum(self.schema_violations.values()),
            "cross_workspace_leaks": len(self.leaks),
        }

    def details(self) -> str:
        lines = [json.dumps(self.summary(), indent=2)]
        lines += [f"5xx: {s}" for s in self.server_errors[:20]]
        lines += [
            f"violation {k} ×{n}: {self.violation_samples[k]}"
            for k, n in self.schema_violations.most_common(30)
        ]
        lines += [f"leak: {s}" for s in self.leaks[:20]]
        return "\n".join(lines)


def _failures(exc: BaseException) -> list[Failure]:
    if isinstance(exc, FailureGroup):
        return [f for e in exc.exceptions for f in _failures(e)]
    return [exc] if isinstance(exc, Failure) else []


def fuzz_api(
    *,
    app,
    auth_for: Callable[[str], dict[str, str]],
    pinned: dict[str, str],
    forbidden: list[str],
    examples: int,
    random_seed: int = 8,
) -> FuzzReport:
    """Fuzz every operation of the app's /api/schema/ in both generation modes, once with
    generated path parameters and once with them pinned to real ids (so the fuzzer gets past
    the 404s), and report 5xx answers, schema violations and any `forbidden` string seen."""
    report = FuzzReport()
    # Django closes the connection at the start and end of each request; here that would end the
    # test's transaction (Django's own test client does the same disconnect).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/", app)
        for result in schema.get_all_operations():
            operation = result.ok()
            report.operations.append(operation.label)
            path_params = {p.name for p in operation.path_parameters}
            pins = {k: v for k, v in pinned.items() if k in path_params}
            variants = [(mode, None) for mode in GenerationMode] + (
                [(mode, pins) for mode in GenerationMode] if pins else []
            )
            for mode, pin in variants:
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=pin)
                _run(
                    strategy,
                    operation.label,
                    app,
                    auth_for(operation.path),
                    forbidden,
                    report,
                    examples,
                    random_seed,
                )
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return report


def _run(strategy, label, app, headers, forbidden, report, examples, random_seed) -> None:
    @seed(random_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def one(case) -> None:
        sid = transaction.savepoint()
        try:
            response = case.call(app=app, headers=headers)
            report.requests += 1
            report.statuses[response.status_code] += 1
            if response.status_code >= 500:
                report.server_errors.append(f"{label} → {response.status_code}: {response.text[:300]}")
            try:
                case.validate_response(response, checks=CHECKS)
            except (Failure, FailureGroup) as exc:
                for failure in _failures(exc):
                    if type(failure).__name__ == "ServerError":
                        continue  # counted above
                    key = f"{label} [{type(failure).__name__}]"
                    report.schema_violations[key] += 1
                    report.violation_samples.setdefault(
                        key,
                        f"{response.status_code} {failure.title}: {str(failure)[:300]} | "
                        f"{case.path} {case.query} | {response.text[:300]}",
                    )
            text = response.text
            # A value the request carried itself (Hypothesis draws strings from the project's own
            # constants, the test fixtures' among them) and an error echoes back is not a leak.
            carried = " ".join(str(part) for part in (case.path_parameters, case.query, case.body))
            seen = [value for value in forbidden if value in text and value not in carried]
            if seen:
                sent, answered = str(case.body)[:300], text[:300]
                status = response.status_code
                report.leaks.append(f"{label} {status}: {seen}; sent {sent!r}; answered {answered!r}")
        finally:
            transaction.savepoint_rollback(sid)

    one()
