"""Client specs and the RESP codec (pure), without servers."""
from __future__ import annotations

import io

import pytest

from workloads.clients import make_client, split_spec
from workloads.clients.httpjson_templated import validate
from workloads.clients.resp import ReplyError, encode, read_reply
from workloads.settings import Settings

pytestmark = pytest.mark.unit


def test_resp_round_trip():
    assert encode(("SET", "k", 12)) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n"
    stream = io.BytesIO(b"+OK\r\n:1\r\n$-1\r\n*2\r\n$3\r\nabc\r\n$1\r\n7\r\n-READONLY no\r\n")
    assert read_reply(stream) == "OK"
    assert read_reply(stream) == 1
    assert read_reply(stream) is None
    assert read_reply(stream) == [b"abc", b"7"]
    err = read_reply(stream)
    assert isinstance(err, ReplyError) and err.code == "READONLY"
    with pytest.raises(ConnectionError):
        read_reply(io.BytesIO(b"$5\r\nab"))


def test_specs_name_a_protocol_or_carry_one():
    assert split_spec("redis") == ("redis", {})
    assert split_spec({"protocol": "redis", "master": "m"}) == ("redis", {"master": "m"})
    for bad in ("mongo", {"master": "m"}, "python:onlymodule"):
        with pytest.raises(ValueError):
            split_spec(bad)
    with pytest.raises(ValueError, match="routes"):
        Settings(system={"protocol": "http-json"}, endpoints=("a:1",))


def test_a_user_client_class_is_imported_and_checked():
    client = make_client("python:tests.systems.userclient:DictClient", ["127.0.0.1:1"])
    client.write("k", 1)
    assert client.cas("k", 1, 2) and client.read("k") == 2
    with pytest.raises(ValueError, match="lacks"):
        split_spec("python:tests.systems.userclient:NotAClient")


def test_http_json_defaults_and_option_errors():
    spec = validate({"routes": {"read": {"path": "/k/{key}"}, "write": {"path": "/k/{key}", "method": "put"}}})
    assert spec["routes"]["write"]["method"] == "PUT" and spec["absent"] == [404]
    with pytest.raises(ValueError, match="colour: unknown key"):
        make_client({"protocol": "redis", "colour": "red"}, ["127.0.0.1:1"])
