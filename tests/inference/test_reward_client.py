"""The reward client (llm/inference/reward_client.py): it gives up on a dead server, follows no redirect and
never forwards its token."""

from __future__ import annotations

import json
import re
import time

import pytest

from llm.errors import ServiceError
from llm.inference.reward_client import RewardClient, RewardServerError
from tests.helpers.ports import free_port
from tests.helpers.reward_server import TOKEN, http_server


def test_client_gives_up_on_a_dead_server():
    url = f"http://127.0.0.1:{free_port()}"
    client = RewardClient([url], retries=2, backoff=0.05, timeout=2)
    started = time.monotonic()
    with pytest.raises(RewardServerError, match=re.escape(url)) as e:
        client.score(["anyone there?"])
    assert time.monotonic() - started < 5 and "3 attempt" in str(e.value) and client.retry_count == 2
    assert isinstance(e.value, ServiceError) and e.value.urls == [f"{url}/get_reward"]


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_client_follows_no_redirect_and_never_forwards_the_token(code):
    seen = []

    def elsewhere(h):  # another host: records what reaches it, and would hand out rewards
        seen.append(dict(h.headers))
        body = json.dumps({"rewards": [42.0]}).encode()
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    with http_server(elsewhere) as other:

        def redirect(h):
            h.send_response(code)
            h.send_header("Location", f"{other}/get_reward")
            h.send_header("Content-Length", "0")
            h.end_headers()

        with http_server(redirect) as server:
            client = RewardClient(server, token=TOKEN, retries=3, backoff=5.0)
            with pytest.raises(RewardServerError) as e:
                client.score(["hi"])
    message = str(e.value)
    assert f"{server}/get_reward: HTTP {code} redirect to {other}/get_reward refused" in message
    assert not seen and client.retry_count == 0 and e.value.status == code
