"""Both clients cover the API exactly: every operation of ``/api/schema/`` has a client method,
with the schema's HTTP method and path, and no client method calls an operation the server no
longer has. A new endpoint therefore fails here until both clients have it."""

from __future__ import annotations

import inspect
import json
import subprocess
from operator import attrgetter

import pytest
from backoffice_client import OPERATIONS, AsyncClient, Client
from drf_spectacular.generators import SchemaGenerator

from tests.clients.conftest import JS_CLIENT

pytestmark = pytest.mark.clients

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema_operations() -> dict[str, tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        operation["operationId"]: (method.upper(), path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def test_every_operation_in_the_schema_has_a_python_client_method(schema_operations):
    table = {op: (entry.method, entry.path) for op, entry in OPERATIONS.items()}

    assert sorted(set(schema_operations) - set(table)) == [], "operations without a method"
    assert sorted(set(table) - set(schema_operations)) == [], "methods of unknown operations"
    assert table == schema_operations


def test_every_python_method_in_the_table_exists_on_both_clients_alike():
    sync = Client(base_url="http://127.0.0.1:9", api_key="k")
    aio = AsyncClient(base_url="http://127.0.0.1:9", api_key="k")

    for operation, entry in OPERATIONS.items():
        method, twin = attrgetter(entry.client_method)(sync), attrgetter(entry.client_method)(aio)
        assert callable(method) and callable(twin), operation
        # the same parameters, names, kinds and defaults
        assert list(inspect.signature(method).parameters.values()) == list(
            inspect.signature(twin).parameters.values()
        ), entry.client_method
    sync.close()


def test_every_operation_in_the_schema_has_a_javascript_client_method(node, schema_operations):
    script = (
        "const m = await import(process.argv[1]);"
        "const c = new m.Client({ baseUrl: 'http://127.0.0.1:9', apiKey: 'k' });"
        "const out = {};"
        "for (const [op, [method, path, name]] of Object.entries(m.OPERATIONS)) {"
        "  const f = name.split('.').reduce((o, k) => (o == null ? o : o[k]), c);"
        "  out[op] = [method, path, typeof f === 'function'];"
        "}"
        "console.log(JSON.stringify(out));"
    )
    result = subprocess.run(
        [node, "--input-type=module", "-e", script, (JS_CLIENT / "index.js").as_uri()],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    table = json.loads(result.stdout)

    assert sorted(set(schema_operations) - set(table)) == [], "operations without a method"
    assert sorted(set(table) - set(schema_operations)) == [], "methods of unknown operations"
    assert {op: (m, p) for op, (m, p, _) in table.items()} == schema_operations
    assert [op for op, (_, _, exists) in table.items() if not exists] == []
