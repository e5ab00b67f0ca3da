"""Shared fixtures and data for the workflow tests."""

from __future__ import annotations

import copy

import pytest
from rest_framework.test import APIClient

from agents.models import Agent
from tests.factories import make_person

TRIAGE = {
    "name": "Support triage",
    "stepBudget": 8,
    "steps": [
        {
            "agent": "agent-triage",
            "condition": "start",
            "inputs": ["all"],
            "outputs": ["category", "priority"],
        },
        {
            "agent": "agent-tech",
            "condition": 'category == "technical"',
            "inputs": ["category", "intent"],
            "outputs": ["resolution"],
        },
        {
            "agent": "agent-billing",
            "condition": 'category == "billing" or resolution == null',
            "inputs": ["all"],
            "outputs": [],
        },
    ],
}


def document(**overrides) -> dict:
    """A valid workflow body (a fresh copy), with top-level fields overridden."""
    return {**copy.deepcopy(TRIAGE), **overrides}


def make_agent(tenant, slug: str, role: str = "specialist") -> Agent:
    return Agent.objects.create(tenant=tenant, slug=slug, name=slug.title(), role=role)


@pytest.fixture
def agents(tenant) -> dict[str, Agent]:
    return {
        slug: make_agent(tenant, slug) for slug in ("agent-triage", "agent-tech", "agent-billing")
    }


@pytest.fixture
def foreign_agent(other_tenant) -> Agent:
    return make_agent(other_tenant, "agent-secret")


@pytest.fixture
def person_client(tenant) -> APIClient:
    client = APIClient()
    client.force_login(make_person(tenant=tenant, roles=["agent", "approver"]))
    return client
