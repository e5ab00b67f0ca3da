"""The README's client examples are the example files the client tests run, character for
character, and every example file is in the README; the Python client is a package."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.clients.conftest import JS_CLIENT, PYTHON_CLIENT, ROOT

pytestmark = pytest.mark.clients

BLOCK = re.compile(r"<!-- example: (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)```\n", re.S)


def readme_blocks() -> dict[str, str]:
    return {m["path"]: m["code"] for m in BLOCK.finditer((ROOT / "README.md").read_text())}


def test_the_readme_shows_the_example_files_as_they_are():
    blocks = readme_blocks()
    files = sorted(
        [*(PYTHON_CLIENT / "examples").glob("*.py"), *(JS_CLIENT / "examples").glob("*.js")]
    )

    assert sorted(blocks) == [str(f.relative_to(ROOT)) for f in files]
    for path, code in blocks.items():
        assert code == (ROOT / path).read_text(), path


def test_the_docs_examples_are_among_them():
    blocks = readme_blocks()

    for name in ("escalation", "handoffs", "approvals", "workflow"):
        assert f"clients/python/examples/{name}.py" in blocks
        assert f"clients/js/examples/{name}.js" in blocks
    assert (
        "createRules('agent-123', {\n  escalation: {" in blocks["clients/js/examples/escalation.js"]
    )
    assert "inputs: ['category', 'context']" in blocks["clients/js/examples/workflow.js"]


def test_the_python_client_is_a_package_setuptools_builds(tmp_path):
    """``pip install ./clients/python`` builds it with setuptools (isolated, from PyPI); here the
    same build backend, offline, makes its source distribution."""
    source = shutil.copytree(PYTHON_CLIENT, tmp_path / "src")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, setuptools.build_meta as b; b.build_sdist(sys.argv[1])",
            str(tmp_path / "dist"),
        ],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )

    [sdist] = (tmp_path / "dist").glob("backoffice*-0.1.0.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [n.split("/", 1)[1] for n in archive.getnames() if "/" in n]
    assert "backoffice_client/py.typed" in names
    assert "backoffice_client/client.py" in names and "backoffice_client/aio.py" in names
    info = source / "backoffice_client.egg-info"
    assert "Name: backoffice-client" in (info / "PKG-INFO").read_text()
    assert (info / "requires.txt").read_text().startswith("httpx")
