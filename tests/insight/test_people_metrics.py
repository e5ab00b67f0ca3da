"""Metrics per human agent and CSAT (issue 19, point 5), in the metrics API and on the
dashboard: handled, mean first response, mean resolution, handoffs past a target, and the
customers' ratings; aggregated in the database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from handover.models import CsatRating, Handoff
from tests.factories import make_api_key, make_person
from tests.insight.support import WINDOW, at, conversation, handoff

pytestmark = pytest.mark.django_db


def metrics(client, **params):
    response = client.get("/api/v1/metrics", {**WINDOW, **params})
    assert response.status_code == 200, response.json()
    return response.json()


def handled(conv, *, by, when, first, closed=None, priority=0):
    row = handoff(conv, when=when, claimed=when, status="resolved" if closed else None)
    Handoff.objects.filter(pk=row.pk).update(
        claimed_by=by, first_response_at=first, resolved_at=closed, priority=priority
    )
    return row


@pytest.fixture
def people(team, tenant):
    """Ada handled two low-priority handoffs (first responses after 10 and 30 min, closed
    after 1 h and 3 h), Bob one urgent one (first response after 20 min: past its 5 min
    target); an older one of Ada's is outside the window. Ratings: Ada 5 and 3, Bob 1, one
    by the AI alone (no person); one before the window."""
    _sup, billing, _tech = team
    ada = make_person(tenant=tenant, roles=["agent"], username="ada", first_name="Ada")
    bob = make_person(tenant=tenant, roles=["agent"], username="bob", first_name="Bob")
    c1, c2, c3, c4, c0 = (conversation(billing, when=at(3)) for _ in range(5))
    handled(c1, by=ada, when=at(4, 10), first=at(4, 10, 10), closed=at(4, 11))
    handled(c2, by=ada, when=at(5, 10), first=at(5, 10, 30), closed=at(5, 13))
    handled(c3, by=bob, when=at(6, 10), first=at(6, 10, 20), priority=45)
    handled(c0, by=ada, when=at(1, 10), first=at(1, 12), closed=at(1, 13))
    for conv, score, person, day in [
        (c1, 5, ada, 4),
        (c2, 3, ada, 5),
        (c3, 1, bob, 6),
        (c4, 4, None, 6),
        (c0, 2, ada, 1),
    ]:
        rating = CsatRating.objects.create(
            tenant=tenant, conversation=conv, score=score, person=person
        )
        CsatRating.objects.filter(pk=rating.pk).update(created_at=at(day, 12))
    return ada, bob


def test_each_person_has_their_handled_response_and_resolution_times_and_csat(key_client, people):
    body = metrics(key_client)

    assert body["people"] == [
        {
            "username": "ada",
            "name": "Ada",
            "handled": 2,
            "meanFirstResponseSeconds": 1200.0,  # (600 + 1800) / 2
            "meanResolutionSeconds": 7200.0,  # (3600 + 10800) / 2
            "breached": 0,
            "csatRatings": 2,
            "csatMean": 4.0,
        },
        {
            "username": "bob",
            "name": "Bob",
            "handled": 1,
            "meanFirstResponseSeconds": 1200.0,
            "meanResolutionSeconds": None,
            "breached": 1,  # urgent: a first response within 5 minutes
            "csatRatings": 1,
            "csatMean": 1.0,
        },
    ]


def test_csat_counts_the_ratings_given_in_the_window(key_client, people):
    body = metrics(key_client)

    assert body["csat"] == {
        "ratings": 4,
        "mean": 3.25,
        "byScore": {"1": 1, "2": 0, "3": 1, "4": 1, "5": 1},
        "comments": [],  # nobody added words to their rating
    }


def test_another_tenants_people_and_ratings_are_not_counted(people, other_tenant):
    _, raw = make_api_key(tenant=other_tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = metrics(client)

    assert body["people"] == []
    assert body["csat"]["ratings"] == 0


def test_the_dashboard_shows_the_people_and_charts_the_ratings(manager_client, people):
    response = manager_client.get(reverse("admin:insight_dashboard"), WINDOW)

    html = response.content.decode()
    assert 'data-metric="csat" data-value="3.25"' in html
    assert 'id="chart-csat"' in html and "5 of 5" in html
    assert '<tr data-person="ada">' in html and '<tr data-person="bob">' in html
    csv = manager_client.get(reverse("admin:insight_dashboard_csv"), WINDOW).content.decode()
    assert "csat.mean,,3.25" in csv
    assert "people.handled,person:ada,2" in csv


def test_a_snooze_paused_the_resolution_target_of_a_closed_handoff(key_client, team, tenant):
    """Urgent: resolved within 4 h. Both closed after 5 h; one was snoozed for 2 of them."""
    _sup, billing, _tech = team
    cleo = make_person(tenant=tenant, roles=["agent"], username="cleo")
    snoozed, straight = (conversation(billing, when=at(3)) for _ in range(2))
    for conv in (snoozed, straight):
        handled(conv, by=cleo, when=at(4, 10), first=at(4, 10, 2), closed=at(4, 15), priority=45)
    Handoff.objects.filter(conversation=snoozed).update(paused=dt.timedelta(hours=2))

    (row,) = metrics(key_client)["people"]

    assert (row["handled"], row["breached"]) == (2, 1)  # the one never snoozed


def test_each_group_of_people_has_its_handoffs_claims_overflow_and_times(
    key_client, manager_client, team, tenant, other_tenant
):
    """Billing (Ada) got three handoffs in the window: Ada claimed one after 5 min, Bob (of
    no group) one after 15 min once it was opened to everyone, one waits; one of no group and
    one before the window are not counted; another tenant's group is not seen."""
    from handover.models import PeopleGroup

    _sup, billing_agent, _tech = team
    ada = make_person(tenant=tenant, roles=["agent"], username="ada", first_name="Ada")
    bob = make_person(tenant=tenant, roles=["agent"], username="bob", first_name="Bob")
    billing = PeopleGroup.objects.create(tenant=tenant, name="Billing")
    billing.members.set([ada])
    PeopleGroup.objects.create(tenant=other_tenant, name="Theirs")
    h1, h2, h3, _of_no_group, old = (
        handoff(conversation(billing_agent, when=at(3)), when=when)
        for when in (at(4, 10), at(5, 10), at(6, 10), at(6, 11), at(1, 10))
    )
    Handoff.objects.filter(pk__in=[h1.pk, h2.pk, h3.pk, old.pk]).update(group=billing)
    Handoff.objects.filter(pk=h1.pk).update(
        claimed_by=ada, claimed_at=at(4, 10, 5), first_response_at=at(4, 10, 10)
    )
    Handoff.objects.filter(pk=h2.pk).update(
        claimed_by=bob,
        claimed_at=at(5, 10, 15),
        first_response_at=at(5, 10, 20),
        overflowed_at=at(5, 10, 10),
    )
    # ratings in the window: Billing's h1 (5) and the one handed to it before the window (2);
    # Returns had a handoff before the window only, rated 4; one of no group is no group's
    returns = PeopleGroup.objects.create(tenant=tenant, name="Returns")
    returned = handoff(conversation(billing_agent, when=at(1)), when=at(1, 11))
    Handoff.objects.filter(pk=returned.pk).update(group=returns)
    for handed, score in ((h1, 5), (old, 2), (returned, 4), (_of_no_group, 1)):
        rating = CsatRating.objects.create(
            tenant=tenant, conversation=handed.conversation, score=score
        )
        CsatRating.objects.filter(pk=rating.pk).update(created_at=at(6, 12))

    assert metrics(key_client)["groups"] == [
        {
            "id": billing.pk,
            "name": "Billing",
            "handoffs": 3,
            "claimed": 2,
            "claimedByMembers": 1,  # Ada's; Bob took the one opened to everyone
            "overflowed": 1,
            "meanSecondsToClaim": 600.0,  # (300 + 900) / 2
            "meanFirstResponseSeconds": 900.0,  # (600 + 1200) / 2
            "breached": 0,
            "csatRatings": 2,
            "csatMean": 3.5,
        },
        {
            "id": returns.pk,
            "name": "Returns",
            "handoffs": 0,
            "claimed": 0,
            "claimedByMembers": 0,
            "overflowed": 0,
            "meanSecondsToClaim": None,
            "meanFirstResponseSeconds": None,
            "breached": 0,
            "csatRatings": 1,
            "csatMean": 4.0,
        },
    ]
    _, raw = make_api_key(tenant=other_tenant)
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert metrics(theirs)["groups"] == []

    html = manager_client.get(reverse("admin:insight_dashboard"), WINDOW).content.decode()
    assert '<tr data-group="Billing">' in html and "1 of 2 claimed" in html
    csv = manager_client.get(reverse("admin:insight_dashboard_csv"), WINDOW).content.decode()
    assert "groups.claimedByMembers,group:Billing,1" in csv
    assert "groups.overflowed,group:Billing,1" in csv
    assert "groups.csatMean,group:Billing,3.5" in csv
    assert "3.5 / 5 (2)" in html
