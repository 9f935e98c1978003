"""What a Redis store URI may say, and what its errors let through."""

from __future__ import annotations

import pytest

from herald.storage.redis import RedisStore
from herald.storage.redis.options import RedisOptions


def test_herald_options_are_taken_and_the_rest_left_for_redis_py() -> None:
    options = RedisOptions.from_uri(
        "rediss://u:pw@cache:6380/2?prefix=h.1&socket_timeout=0.5&ssl_cert_reqs=none"
    )
    assert options.prefix == "h.1" and options.socket_timeout == 0.5
    assert options.connect_timeout == 2.0
    assert options.url == "rediss://u:pw@cache:6380/2?ssl_cert_reqs=none"
    assert options.where == "cache:6380/2"


@pytest.mark.parametrize(
    "uri",
    [
        "http://u:secret@host/0",
        "redis://u:secret@host/0?socket_timeout=soon",
        "redis://u:secret@host/0?prefix=a:b",
    ],
)
def test_a_refused_uri_never_shows_its_password(uri: str) -> None:
    with pytest.raises(ValueError) as refused:
        RedisOptions.from_uri(uri)
    assert "secret" not in str(refused.value)


def test_an_unknown_durability_is_refused_as_by_every_driver() -> None:
    assert RedisStore.from_uri("redis://host/0", durability="normal").keys.prefix == "herald"
    with pytest.raises(ValueError, match="durability"):
        RedisStore.from_uri("redis://host/0", durability="fast")


@pytest.mark.parametrize("path", ["/abc", "/0x1", "/-1", "/1.5"])
def test_a_database_that_is_no_number_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="must be a number"):
        RedisOptions.from_uri(f"redis://u:secret@host{path}")


@pytest.mark.parametrize(("path", "where"), [("", "/0"), ("/", "/"), ("/0", "/0"), ("/15", "/15")])
def test_a_database_number_or_none_is_taken(path: str, where: str) -> None:
    assert RedisOptions.from_uri(f"redis://host:6379{path}").where == f"host:6379{where}"
