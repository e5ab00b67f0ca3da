"""The network runtimes' local test servers (tests/runtimes) for the guardrail tests."""

from tests.runtimes.conftest import hook, llm, llm_key  # noqa: F401
