"""Every API error answers in the JSON shape of SPEC section 6."""

from __future__ import annotations

import pytest

from core.api_errors import flatten_errors

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_an_unknown_api_path_is_a_json_404(key_client):
    error = assert_error_shape(key_client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert "/api/v1/no-such-thing" in error["message"]


def test_an_unknown_object_is_a_json_404(manager_client):
    assert_error_shape(manager_client.get("/api/v1/api-keys/999999"), 404, "not_found")


def test_a_wrong_method_is_a_json_405(key_client):
    assert_error_shape(key_client.delete("/api/v1/me"), 405, "method_not_allowed")


def test_a_body_that_is_not_json_is_a_json_415(manager, tenant):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(manager)
    response = client.post("/api/v1/api-keys", "name=x", content_type="text/plain")

    assert_error_shape(response, 415, "unsupported_media_type")


def test_broken_json_is_a_json_400(manager):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(manager)
    response = client.post("/api/v1/api-keys", '{"name": ', content_type="application/json")

    error = assert_error_shape(response, 400, "parse_error")
    assert "not valid JSON" in error["message"]


def test_nan_is_not_accepted_as_json(manager):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(manager)
    response = client.post("/api/v1/api-keys", '{"name": NaN}', content_type="application/json")

    assert_error_shape(response, 400, "parse_error")


def test_a_body_over_the_limit_is_a_json_413(manager, settings):
    from rest_framework.test import APIClient

    settings.API_MAX_BODY_BYTES = 1000
    client = APIClient()
    client.force_login(manager)
    body = '{"name": "' + "x" * 2000 + '"}'
    response = client.post("/api/v1/api-keys", body, content_type="application/json")

    error = assert_error_shape(response, 413, "payload_too_large")
    assert "1000 bytes" in error["message"]


def test_a_validation_error_names_the_field(manager):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(manager)
    response = client.post("/api/v1/api-keys", {"name": "x" * 101}, format="json")

    error = assert_error_shape(response, 400, "invalid")
    assert error["fields"] == {"name": ["Ensure this field has no more than 100 characters."]}
    assert error["message"] == "name: Ensure this field has no more than 100 characters."


def test_nested_errors_are_flattened_to_field_paths():
    detail = {
        "name": ["This field is required."],
        "handoffs": [{}, {"condition": ["column 11: expected a value after '=='"]}],
        "escalation": {"maxAttempts": ["Ensure this value is greater than or equal to 1."]},
        "steps": {2: {"agent": ["Unknown agent."]}},
        "non_field_errors": ["Something is off."],
    }

    assert flatten_errors(detail) == {
        "name": ["This field is required."],
        "handoffs[1].condition": ["column 11: expected a value after '=='"],
        "escalation.maxAttempts": ["Ensure this value is greater than or equal to 1."],
        "steps[2].agent": ["Unknown agent."],
        "non_field_errors": ["Something is off."],
    }


def test_the_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/v1/me" in schema.content
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_pages_outside_the_api_keep_html_404s(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_the_openapi_schema_is_valid_and_complete(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    text = target.read_text()
    for route in (
        "/api/v1/agents",
        "/api/v1/agents/{agent_id}/orchestration/rules",
        "/api/v1/workflows",
    ):
        assert route in text
    assert "bearerAuth" in text
