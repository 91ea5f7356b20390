"""Schemathesis runs of both OpenAPI schemas against real servers over loopback HTTP.

The speech API is a real ``ttsops serve`` of joe (input limited to 40 characters, so each
generated request synthesizes little audio); the agent's management API is a real
``ttsops agent`` process (with its nginx) on an empty state dir and SQLite ledger. Every
check schemathesis has runs, on every operation; examples are few and derandomized, so
the run is the same each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from agent_fixtures import AgentProcess
from schemathesis.config import SchemathesisConfig

from ttsops.testing import ServerProcess

_CONFIG = """
[generation]
max-examples = {max_examples}
deterministic = true

[checks]
enabled = true

# A speech input over the server's limit is refused with 413 Content Too Large, the status
# RFC 9110 names for it (and the schema documents); schemathesis's default list of
# "rejected" statuses lacks it.
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422"]
"""

# for the speech server only (an operation's check settings switch that check on for the
# whole schema it is given to)
_SPEECH_CONFIG = """
# A reference voice's clip must be a recording of speech, which no schema can say of a
# binary field: a schema-valid upload (a PNG, a second of noise) is rightly refused with
# 415 (not audio) or 400 (too short, silent), and these are documented answers.
[[operations]]
include-path = "/v1/voices"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["200", "201", "400", "413", "415"]
"""


def _config(
    max_examples: int, headers: dict[str, str] | None = None, extra: str = ""
) -> SchemathesisConfig:
    config = SchemathesisConfig.from_str(_CONFIG.format(max_examples=max_examples) + extra)
    if headers:
        config.projects.default.update(headers=headers)
    return config


@pytest.fixture(scope="module")
def speech_server(joe_bundle: Path) -> Iterator[ServerProcess]:
    """A real `ttsops serve` of joe whose inputs are short, so fuzzing stays quick."""
    args = ["--no-ui", "--workers", "2", "--max-input-chars", "40", "--queue-size", "64"]
    with ServerProcess(joe_bundle, args) as server:
        yield server


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """A real `ttsops agent` on a fresh state dir: no versions, no deployments."""
    running = AgentProcess(tmp_path_factory.mktemp("agent-home"))
    try:
        yield running.start()
    finally:
        running.close()


@pytest.fixture(scope="module")
def speech_schema(speech_server: ServerProcess) -> schemathesis.BaseSchema:
    """The speech server's own /openapi.json."""
    return schemathesis.openapi.from_url(
        f"{speech_server.url}/openapi.json", config=_config(12, extra=_SPEECH_CONFIG)
    )


@pytest.fixture(scope="module")
def agent_schema(agent: AgentProcess) -> schemathesis.BaseSchema:
    """The agent's /openapi.json, called with the agent's bearer token."""
    headers = {"Authorization": "Bearer test-token"}
    return schemathesis.openapi.from_url(f"{agent.url}/openapi.json", config=_config(25, headers))


speech_api = schemathesis.pytest.from_fixture("speech_schema")
agent_api = schemathesis.pytest.from_fixture("agent_schema")


@speech_api.parametrize()
def test_speech_server_does_what_its_schema_says(case: schemathesis.Case) -> None:
    """Every operation of `ttsops serve`: no 5xx, and each answer matches the schema."""
    case.call_and_validate(timeout=60)


@agent_api.parametrize()
def test_agent_api_does_what_its_schema_says(case: schemathesis.Case) -> None:
    """Every operation of the agent's API: no 5xx, and each answer matches the schema."""
    case.call_and_validate(timeout=60)
