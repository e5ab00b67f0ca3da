"""The shared HTTP client: retries, backoff, caps and settings, against a real local server."""

from __future__ import annotations

import pytest

from agents.runtimes.http import HttpPolicy, current_policy, endpoint, post_json
from tests.runtimes.support import FAST, Respond


def recording_policy(**changes):
    waits: list[float] = []
    values = {
        "connect_timeout": FAST.connect_timeout,
        "read_timeout": FAST.read_timeout,
        "backoff": (0.01, 0.02),
        "sleep": waits.append,
    }
    values.update(changes)
    return HttpPolicy(**values), waits


def test_a_json_answer(plain_server):
    result = post_json(plain_server.url, {"a": "é"}, headers={"X-Test": "1"}, policy=FAST)

    assert result.ok
    assert (result.status, result.data, result.attempts) == (200, {"ok": True}, 1)
    seen = plain_server.seen[0]
    assert seen.raw == '{"a":"é"}'.encode()
    assert seen.headers["X-Test"] == "1"
    assert seen.headers["Content-Type"] == "application/json"


def test_the_backoff_doubles_between_attempts(plain_server):
    policy, waits = recording_policy(backoff=(0.2, 0.4))
    plain_server.then(Respond(500, {}), Respond(500, {}), Respond(500, {}))
    result = post_json(plain_server.url, {}, policy=policy)

    assert result.attempts == 3
    assert waits == [0.2, 0.4]


def test_the_default_policy_is_three_attempts_with_short_exponential_backoff():
    policy = HttpPolicy()

    assert (policy.connect_timeout, policy.read_timeout) == (3.0, 15.0)
    assert policy.attempts == 3
    assert [policy.delay(1), policy.delay(2)] == [0.2, 0.4]
    assert policy.max_body_bytes == 1024 * 1024


def test_a_retry_after_is_honoured_up_to_its_cap(plain_server):
    policy, waits = recording_policy(max_retry_after=0.05)
    plain_server.then(Respond(429, {}, headers={"Retry-After": "30"}))
    result = post_json(plain_server.url, {}, policy=policy)

    assert result.ok
    assert waits == [0.05]


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_client_errors_are_final(plain_server, status):
    policy, waits = recording_policy()
    plain_server.then(Respond(status, {"detail": "no such thing"}))
    result = post_json(plain_server.url, {}, policy=policy)

    assert result.error == f"HTTP {status}: no such thing"
    assert result.attempts == 1
    assert result.status == status
    assert result.data == {"detail": "no such thing"}
    assert waits == []


def test_redirects_are_not_followed(plain_server):
    plain_server.then(Respond(302, raw=b"", headers={"Location": "http://example.com/"}))
    result = post_json(plain_server.url, {}, policy=FAST)

    assert result.error.startswith("HTTP 302")
    assert len(plain_server.seen) == 1


def test_a_body_over_the_cap_is_refused(plain_server):
    plain_server.then(Respond(raw=b'"' + b"x" * 5000 + b'"'))
    result = post_json(plain_server.url, {}, policy=HttpPolicy(max_body_bytes=1024))

    assert result.error == "response body is larger than 1024 bytes"
    assert result.attempts == 1
    assert result.status == 200


def test_a_payload_that_is_not_json_is_an_error_without_a_request(plain_server):
    result = post_json(plain_server.url, {"x": float("nan")}, policy=FAST)

    assert result.error.startswith("the request could not be encoded as JSON")
    assert result.attempts == 0
    assert plain_server.seen == []


def test_an_invalid_url_is_a_final_error():
    result = post_json("http://", {}, policy=FAST)

    assert result.error.startswith("request failed: InvalidURL")
    assert result.attempts == 1


def test_the_setting_overrides_the_defaults(settings):
    settings.AGENT_RUNTIME_HTTP = {"read_timeout": 2, "attempts": 5, "backoff": [0.1, 0.3]}
    policy = current_policy()

    assert policy.read_timeout == 2.0
    assert policy.attempts == 5
    assert policy.backoff == (0.1, 0.3)
    assert policy.connect_timeout == 3.0


def test_the_endpoint_shown_in_events_drops_credentials_and_query():
    assert endpoint("https://user:pw@hooks.example.com:8443/agent?token=s3cret#x") == (
        "https://hooks.example.com:8443/agent"
    )
