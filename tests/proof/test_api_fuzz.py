"""Schemathesis fuzzes every operation of /api/v1/openapi.json, in-process, as the anonymous
public and as each role: no 5xx, and every status code, content type, header and body is the
documented one; data that breaks the schema is refused.

``FUZZ_EXAMPLES`` (default 6) bounds the generated cases per operation, generation mode
(valid and invalid data) and identity. The number of cases each run executed is printed at the
end of the session and written to ``$PROOF_REPORT`` (JSON) when that is set.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pitchtank.api.openapi import OPERATIONS
from tests.proof import counts
from tests.proof.conftest import ROLES, build_world

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
IDENTITIES = ("anonymous", *ROLES)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


@schemathesis.serializer("application/pdf")
def _pdf_bytes(ctx, value):
    """Deck uploads: the generated body goes out as raw bytes (the checker must refuse junk)."""
    return {"data": value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")}


def _label(op) -> str:
    return f"{op.method.upper()} {op.openapi_path}"


ALL_OPERATIONS = sorted({_label(op) for op in OPERATIONS})


@pytest.fixture(scope="module")
def api_schema(app):
    config = schemathesis.Config.from_dict({"max-stream-events": 2, "request-timeout": 2})
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


def _cases(operation, mode: GenerationMode, world):
    """Cases whose path ids are mostly ids that exist, sometimes anything the schema allows."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if not names or mode is GenerationMode.NEGATIVE:
        return generated
    known = st.fixed_dictionaries({name: st.sampled_from(world.ids[name]) for name in names})
    existing = known.flatmap(lambda ids: operation.as_strategy(generation_mode=mode, path_parameters=ids))
    return st.one_of(existing, existing, existing, generated)


@pytest.mark.parametrize("label", ALL_OPERATIONS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_operation_survives_generated_requests(label, mode, api_schema, app, make, db, monkeypatch):
    method, path = label.split(" ", 1)
    operation = api_schema[path][method]
    if mode is GenerationMode.NEGATIVE and not _can_be_negative(operation):
        pytest.skip("nothing in this operation's request can be made invalid")
    monkeypatch.setitem(app.config, "STREAM_MAX_SECONDS", 0.2)
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", False)
    world = build_world(make)
    client = app.test_client()

    @settings(max_examples=FUZZ_EXAMPLES * len(IDENTITIES), deadline=None, database=None,
              suppress_health_check=list(HealthCheck), derandomize=False)
    @given(case=_cases(operation, mode, world), who=st.sampled_from(IDENTITIES))
    def run(case, who):
        if path == "/tokens/current" and who != "anonymous":
            world.refresh_token(who)
        headers = world.headers(who)
        response = case.call(session=client, app=app, headers=headers)
        counts.record("schemathesis", f"{label} [{mode.value}]")
        case.validate_response(response, checks=CHECKS, headers=headers,
                               transport_kwargs={"app": app, "session": client})
        if response.status_code >= 400 and response.status_code != 304:
            content_type = response.headers.get("content-type", [""])[0]
            assert content_type.startswith("application/problem+json"), (
                response.status_code, response.text[:300])

    run()


def _can_be_negative(operation) -> bool:
    return bool(operation.path_parameters or operation.query or operation.headers or operation.body)
