from tests.handover.conftest import ada, bob, online, team_options  # noqa: F401
