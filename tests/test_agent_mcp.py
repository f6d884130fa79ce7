"""MCP tools in agent loops: a small server written for the tests (tests/mcp_server.py, on the
official Python SDK) reached over stdio and over streamable HTTP, its tools called by the mock's
tool-calling model through ``run_agent_loop``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import mcp  # noqa: F401 - the test server's SDK: `make install` installs it
import pytest
from conftest import client_for, user
from liter_llm import NetworkError, tools_from_mcp
from redis_support import free_port

SERVER = str(Path(__file__).with_name("mcp_server.py"))


@pytest.fixture
def http_server():
    """The test server over streamable HTTP; its URL once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the MCP server never listened"
            time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    proc.wait(timeout=10)
    proc.stderr.close()


async def test_stdio_server_tools_are_listed_and_called_by_the_loop(mock):
    async with await tools_from_mcp(command=[sys.executable, SERVER], timeout=30) as tools:
        assert sorted(t.name for t in tools) == ["add", "fail", "shout"]
        add = next(t for t in tools if t.name == "add")
        assert add.definition["function"]["description"] == "Adds two whole numbers."
        assert set(add.definition["function"]["parameters"]["required"]) == {"a", "b"}
        result = await client_for(mock).run_agent_loop(
            model="gpt-4o-mini", messages=user('call:add {"a": 2, "b": 40}\ncall:shout {"text": "hi"}'), tools=tools
        )
        assert result.content == "42\nHI"
        failed = await client_for(mock).run_agent_loop(
            model="gpt-4o-mini", messages=user('call:fail {"reason": "disk full"}'), tools=tools
        )
        assert failed.content.startswith("Error: fail raised McpToolError:")
        assert "disk full" in failed.content
        # Arguments the server's schema rejects never reach it.
        invalid = await client_for(mock).run_agent_loop(
            model="gpt-4o-mini", messages=user('call:add {"a": "two", "b": 1}'), tools=tools
        )
        assert invalid.content.startswith("Error: invalid arguments for add: arguments.a: expected integer")
    with pytest.raises(ValueError, match="closed"):
        await tools.session.call("add", {"a": 1, "b": 1})


async def test_streamable_http_server_tools_work_the_same(mock, http_server):
    tools = await tools_from_mcp(url=http_server, timeout=30)
    try:
        result = await client_for(mock).run_agent_loop(
            model="gpt-4o-mini", messages=user('call:shout {"text": "over http"}'), tools=tools
        )
        assert result.content == "OVER HTTP"
    finally:
        await tools.close()


async def test_bad_servers_and_arguments_are_typed_errors():
    with pytest.raises(ValueError):
        await tools_from_mcp()
    with pytest.raises(ValueError):
        await tools_from_mcp(command=["x"], url="http://127.0.0.1:1/mcp")
    with pytest.raises(TypeError):
        await tools_from_mcp(command="python server.py")
    with pytest.raises(ValueError, match="http"):
        await tools_from_mcp(url="ftp://127.0.0.1/mcp")
    with pytest.raises(NetworkError, match="could not be started"):
        await tools_from_mcp(command=["/nonexistent/mcp-server"])
    with pytest.raises(NetworkError):
        await tools_from_mcp(url=f"http://127.0.0.1:{free_port()}/mcp", timeout=5)
