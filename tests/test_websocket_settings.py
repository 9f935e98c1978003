"""The `[websocket]` settings: each range holds at its ends and refuses one step past them."""

from __future__ import annotations

from pathlib import Path

import pytest

from herald.config import ConfigError, load_settings
from support import failed_start

EDGES = [
    ("max_frame_size", "1024", "1023"),
    ("max_frame_size", "67108864", "67108865"),
    ("ping_interval", "86400", "0"),
    ("ping_timeout", "0.001", "86401"),
    ("idle_timeout", "86400", "-1"),
    ("push_backlog", "1024", "1023"),
    ("push_backlog", "1073741824", "1073741825"),
]


@pytest.mark.parametrize(("name", "edge", "past"), EDGES)
def test_a_websocket_setting_holds_at_its_edge_and_not_past_it(
    name: str, edge: str, past: str
) -> None:
    variable = f"HERALD_WEBSOCKET_{name.upper()}"
    settings = load_settings(environ={variable: edge})
    assert getattr(settings.websocket, name) == type(getattr(settings.websocket, name))(edge)
    with pytest.raises(ConfigError, match=f"websocket {name}"):
        load_settings(environ={variable: past})


def test_a_bad_websocket_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    code, said = failed_start(tmp_path, env={"HERALD_WEBSOCKET_MAX_FRAME_SIZE": "10"})
    assert code == 2
    lines = [line for line in said.splitlines() if line.strip()]
    assert len(lines) == 1 and "websocket max_frame_size" in lines[0], said
