"""``llm-train serve-reward``'s command line (llm/commands/serve_reward.py): flags, a YAML file, bad setups
refused before the model loads, loopback by default."""

from __future__ import annotations

import re
import socket
import time
from dataclasses import fields

import pytest

from llm.commands.cli import parse
from llm.commands.serve_reward import PROG, ServeRewardArguments, main
from llm.errors import UserError
from llm.serve.config import ServerConfig, read_token
from llm.serve.server import RewardServer
from tests.helpers.reward_server import TOKEN


def test_every_flag_is_snake_case_and_a_yaml_file_works(tmp_path, reward_checkpoint, capsys):
    from transformers import HfArgumentParser

    parser = HfArgumentParser((ServeRewardArguments,), prog=PROG)
    names = {f.name for f in fields(ServeRewardArguments)}
    flags = [a.option_strings[0] for a in parser._actions if a.dest != "help"]
    assert sorted(flags) == sorted(f"--{name}" for name in names)
    assert all(re.fullmatch(r"--[a-z][a-z0-9_]*", flag) for flag in flags), flags
    assert {"--max_batch", "--max_wait_ms", "--token_file", "--max_body_bytes"} <= set(flags)

    config = tmp_path / "serve.yaml"
    config.write_text(f"model: {reward_checkpoint}\nmax_batch: 64\nmax_body_bytes: 1MiB\nverbose: true\n")
    (args,) = parse((ServeRewardArguments,), [str(config), "--max_wait_ms", "5"], PROG)
    assert (args.model, args.max_batch, args.max_wait_ms, args.verbose) == (
        str(reward_checkpoint),
        64,
        5.0,
        True,
    )
    assert args.server_config().max_body_bytes == 1 << 20 and args.host == "127.0.0.1"
    config.write_text(f"model: {reward_checkpoint}\nmax_batch: 0\n")
    assert main([str(config)]) == 2  # read from the file, refused before any model loads
    assert "llm-train serve-reward: error: --max_batch 0: must be 1 or more" in capsys.readouterr().err


def test_main_refuses_bad_setup(tmp_path, reward_checkpoint, capsys):
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    spaced = tmp_path / "spaced"
    spaced.write_text("two words\n")
    bad = [
        (["--model", str(tmp_path / "missing")], "no such directory"),
        (["--token_file", str(empty)], "empty"),
        (["--token_file", str(spaced)], "one word of ASCII"),
        (["--token_file", str(tmp_path / "none")], "No such file"),
        (["--max_batch", "0"], "--max_batch 0: must be 1 or more"),
        (["--port", "70000"], "--port 70000: not a port"),
        (["--max_body_bytes", "4 lots"], "--max_body_bytes: not a size"),
        (["--request_timeout", "0"], "--request_timeout 0: must be more than 0"),
        (["--shutdown_timeout", "-1"], "--shutdown_timeout -1: must be more than 0"),
        (["--max_texts", "0"], "--max_texts 0: must be 1 or more"),
        (["--max_request_tokens", "0"], "--max_request_tokens 0: must be 1 or more"),
        (["--max_batch", "8", "--bogus", "1"], "unknown arguments: --bogus 1"),
    ]
    for argv, words in bad:
        argv = argv if argv[0] == "--model" else ["--model", str(reward_checkpoint), *argv]
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("llm-train serve-reward: error: ") and words in err, err


def test_a_taken_port_fails_before_the_model_loads(reward_checkpoint, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        started = time.monotonic()
        assert main(["--model", str(reward_checkpoint), "--port", str(taken.getsockname()[1])]) == 2
    assert time.monotonic() - started < 3
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


def test_loopback_by_default_and_a_token_required_elsewhere(caplog, reward_checkpoint, capsys):
    assert ServerConfig(model="m").host == "127.0.0.1" and ServeRewardArguments(model="m").host == "127.0.0.1"
    server = RewardServer(ServerConfig(model="m", port=0))
    server.close()
    assert not caplog.records
    for host in ("0.0.0.0", "::", "10.1.2.3", "example.org"):
        with pytest.raises(UserError, match=f"--host {host}: .* needs --token_file"):
            ServerConfig(model="m", host=host, port=0)
    assert (
        main(["--model", str(reward_checkpoint), "--host", "0.0.0.0", "--port", "0"]) == 2
    )  # before binding
    assert "error: --host 0.0.0.0: a server reachable from other machines needs" in capsys.readouterr().err
    server = RewardServer(ServerConfig(model="m", host="0.0.0.0", port=0, token="t"))
    server.close()
    assert not caplog.records


def test_world_readable_token_file_warns(tmp_path, caplog):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    path.chmod(0o644)
    assert read_token(str(path)) == TOKEN and "readable by every user" in caplog.text
