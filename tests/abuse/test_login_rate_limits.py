"""Brute-force protection of sign-in: every attempt is counted per client address, failures per
(username, address) pair and per username from every address; over a limit the form answers
429 with an error and Retry-After, and does not even check the password. An attacker's
failures never lock the owner out from another address."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PASSWORD, make_person

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def alice(tenant):
    return make_person(tenant=tenant, roles=["manager"], username="alice")


def attempt(path, username, password="wrong", address="198.51.100.1", **meta):
    return Client().post(
        path, {"username": username, "password": password}, REMOTE_ADDR=address, **meta
    )


def test_too_many_attempts_on_one_username_are_refused_with_429(settings, alice):
    settings.LOGIN_RATE_LIMIT = "3/min"

    tries = [attempt(LOGIN, "alice").status_code for _ in range(3)]
    refused = attempt(LOGIN, "alice")

    assert tries == [200, 200, 200]  # the form again, with "enter a correct username..."
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert b"Too many sign-in attempts" in refused.content


def test_once_refused_even_the_right_password_does_not_sign_in(settings, alice):
    settings.LOGIN_RATE_LIMIT = "2/min"
    attempt(LOGIN, "alice")
    attempt(LOGIN, "alice")

    response = attempt(LOGIN, "alice", password=PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in response.wsgi_request.session


def test_the_pair_limit_holds_across_letter_case(settings, alice):
    settings.LOGIN_RATE_LIMIT = "3/min"
    settings.LOGIN_IP_RATE_LIMIT = "off"

    codes = [attempt(LOGIN, name).status_code for name in ["alice", "Alice", " ALICE", "alice"]]

    assert codes == [200, 200, 200, 429]


def test_an_attackers_ten_failures_do_not_stop_the_owner_signing_in_from_elsewhere(alice):
    # the defaults: 10 failures per username and address, 20 per username, 30 per address
    attacker = "192.0.2.66"
    failures = [attempt(LOGIN, "alice", address=attacker).status_code for _ in range(10)]

    owner = attempt(LOGIN, "alice", password=PASSWORD, address="198.51.100.7")
    still_limited = attempt(LOGIN, "alice", address=attacker)
    guessed_right = attempt(LOGIN, "alice", password=PASSWORD, address=attacker)

    assert failures == [200] * 10
    assert owner.status_code == 302
    assert owner.wsgi_request.user.username == "alice"
    assert still_limited.status_code == 429
    assert guessed_right.status_code == 429  # not even checked
    assert "_auth_user_id" not in guessed_right.wsgi_request.session


def test_only_failures_fill_the_limits(settings, alice):
    settings.LOGIN_RATE_LIMIT = "2/min"
    settings.LOGIN_USERNAME_RATE_LIMIT = "2/min"

    signed_in = [attempt(LOGIN, "alice", password=PASSWORD).status_code for _ in range(5)]
    failures = [attempt(LOGIN, "alice").status_code for _ in range(3)]

    assert signed_in == [302] * 5
    assert failures == [200, 200, 429]


def test_under_attack_from_many_addresses_each_gets_one_try_and_the_owner_still_signs_in(
    settings, alice
):
    settings.LOGIN_USERNAME_RATE_LIMIT = "3/min"
    botnet = [attempt(LOGIN, "alice", address=f"203.0.113.{i}").status_code for i in range(6)]

    second_try = attempt(LOGIN, "alice", address="203.0.113.1").status_code
    owner = attempt(LOGIN, "alice", password=PASSWORD, address="198.51.100.7")
    typo = attempt(LOGIN, "alice", address="198.51.100.8").status_code
    after_the_typo = attempt(LOGIN, "alice", password=PASSWORD, address="198.51.100.8")

    assert botnet == [200] * 6  # each address's first try is checked (and fails)
    assert second_try == 429
    assert owner.status_code == 302
    assert typo == 200
    assert after_the_typo.status_code == 429  # one try per address while under attack
    assert 1 <= int(after_the_typo["Retry-After"]) <= 60


def test_other_usernames_are_not_touched_by_an_attack_on_one(settings, alice, tenant):
    settings.LOGIN_USERNAME_RATE_LIMIT = "2/min"
    settings.LOGIN_RATE_LIMIT = "2/min"
    make_person(tenant=tenant, roles=["agent"], username="bob")
    for i in range(4):
        attempt(LOGIN, "alice", address=f"203.0.113.{i}")
        attempt(LOGIN, "alice", address=f"203.0.113.{i}")

    tries = [attempt(LOGIN, "bob", address="203.0.113.1").status_code for _ in range(2)]
    bob = attempt(LOGIN, "bob", password=PASSWORD, address="198.51.100.9")

    assert tries == [200, 200]
    assert bob.status_code == 302


def test_the_address_limit_holds_across_usernames(settings, tenant):
    settings.LOGIN_RATE_LIMIT = "off"
    settings.LOGIN_IP_RATE_LIMIT = "3/min"

    from_one = [attempt(LOGIN, f"user{i}").status_code for i in range(4)]
    from_another = attempt(LOGIN, "user9", address="198.51.100.2").status_code

    assert from_one == [200, 200, 200, 429]
    assert from_another == 200


def test_someone_else_signs_in_while_alice_is_being_guessed(settings, alice, tenant):
    settings.LOGIN_RATE_LIMIT = "2/min"
    make_person(tenant=tenant, roles=["agent"], username="bob")
    for _ in range(3):
        attempt(LOGIN, "alice", address="192.0.2.66")

    response = attempt(LOGIN, "bob", password=PASSWORD, address="198.51.100.7")

    assert response.status_code == 302
    assert response.wsgi_request.user.username == "bob"


def test_the_admin_login_is_limited_too(settings, alice):
    settings.LOGIN_RATE_LIMIT = "2/min"

    codes = [attempt(ADMIN_LOGIN, "alice").status_code for _ in range(3)]
    refused = attempt(ADMIN_LOGIN, "alice", password=PASSWORD)

    assert codes == [200, 200, 429]
    assert refused.status_code == 429
    assert refused["Retry-After"]
    assert b"Too many sign-in attempts" in refused.content
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_the_admin_login_still_signs_staff_in(alice):
    response = attempt(ADMIN_LOGIN, "alice", password=PASSWORD)

    assert response.status_code == 302
    assert response.wsgi_request.user.username == "alice"


def test_the_login_pages_still_show(alice):
    assert Client().get(LOGIN).status_code == 200
    assert Client().get(ADMIN_LOGIN).status_code == 200


def test_a_spoofed_forwarded_for_does_not_dodge_the_address_limit(settings, tenant):
    settings.BEHIND_PROXY = False
    settings.LOGIN_RATE_LIMIT = "off"
    settings.LOGIN_IP_RATE_LIMIT = "2/min"

    codes = [attempt(LOGIN, "x", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code for i in range(3)]

    assert codes == [200, 200, 429]


def test_behind_a_proxy_the_address_is_the_one_the_proxy_appended(settings, tenant):
    settings.BEHIND_PROXY = True
    settings.LOGIN_RATE_LIMIT = "off"
    settings.LOGIN_IP_RATE_LIMIT = "2/min"
    proxy = "127.0.0.1"

    # the client may put anything first; the proxy appends the address it saw
    same_client = [
        attempt(
            LOGIN, "x", address=proxy, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}, 203.0.113.5"
        ).status_code
        for i in range(3)
    ]
    other_client = attempt(
        LOGIN, "x", address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.6"
    ).status_code

    assert same_client == [200, 200, 429]
    assert other_client == 200


def test_sign_in_works_when_redis_is_down(settings, alice, caplog):
    from tests.abuse.test_api_rate_limits import _closed_port

    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.LOGIN_RATE_LIMIT = "1/min"
    settings.LOGIN_IP_RATE_LIMIT = "1/min"

    tries = [attempt(LOGIN, "alice").status_code for _ in range(3)]
    response = attempt(LOGIN, "alice", password=PASSWORD)

    assert tries == [200, 200, 200]
    assert response.status_code == 302
    assert "rate limits not enforced" in caplog.text


def test_with_the_pair_limit_off_an_attacked_account_still_gives_one_try_per_address(
    settings, alice
):
    settings.LOGIN_RATE_LIMIT = "off"
    settings.LOGIN_USERNAME_RATE_LIMIT = "2/min"
    for i in range(3):
        attempt(LOGIN, "alice", address=f"203.0.113.{i}")

    again = attempt(LOGIN, "alice", address="203.0.113.0").status_code
    owner = attempt(LOGIN, "alice", password=PASSWORD, address="198.51.100.7").status_code

    assert again == 429
    assert owner == 302
