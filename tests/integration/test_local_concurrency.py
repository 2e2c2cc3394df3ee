"""The local stack serves concurrent requests concurrently, as AWS would run the invocations: its HTTP
server answers a request while another is still running (and queues a burst of connections), and a
function invoked twice at once runs in two instances of its own (each its own module, as two Lambda
containers), never two invocations in one instance."""

from __future__ import annotations

import http.client
import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor

from local.functions import MAX_INSTANCES, Function
from local.priority import FrontDoor
from local.server import Endpoint, LocalServer, Router, json_response


def test_two_requests_are_answered_at_the_same_time():
    both_in = threading.Barrier(2, timeout=10)

    def handle(request, params):
        both_in.wait()  # returns only when the other request is being answered too
        return json_response(200, {"ok": True})

    server = LocalServer(0)
    server.router = Router([Endpoint("GET", "/slow", handle)])
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:

        def get() -> int:
            connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=20)
            connection.request("GET", "/slow")
            return connection.getresponse().status

        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(lambda _: get(), range(2))) == [200, 200]
    finally:
        server.shutdown()
        server.server_close()
    assert LocalServer.request_queue_size >= 128


def test_a_function_invoked_twice_at_once_runs_in_two_instances(tmp_path, monkeypatch):
    probe = types.ModuleType("parity_local_probe")
    probe.barrier = threading.Barrier(2, timeout=10)
    probe.instances = []
    monkeypatch.setitem(sys.modules, "parity_local_probe", probe)
    (tmp_path / "app.py").write_text(
        "import parity_local_probe as probe\n"
        "calls = []\n"
        "probe.instances.append(calls)\n"
        "def lambda_handler(event, context):\n"
        "    calls.append(event)\n"
        "    probe.barrier.wait()  # both invocations are running at once\n"
        "    return {'instance': id(calls), 'calls': len(calls)}\n"
    )
    function = Function("ProbeFunction", tmp_path, "app.lambda_handler", 128, 3)
    function.load()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(function.invoke, [{"n": 1}, {"n": 2}]))

    assert len({r["instance"] for r in results}) == 2  # two instances...
    assert [r["calls"] for r in results] == [1, 1]  # ...each serving one invocation
    assert function.instances == 2 <= MAX_INSTANCES
    # AND a later invocation reuses an idle instance (a warm container) instead of importing again
    probe.barrier = threading.Barrier(1)
    function.invoke({"n": 3})
    assert function.instances == 2 and len(probe.instances) == 2


def test_pollers_wait_for_a_quiet_moment_between_deliveries_but_never_stall():
    front = FrontDoor()
    release = threading.Event()
    in_handler = threading.Event()

    def delivery():
        in_handler.set()
        release.wait(5)

    worker = threading.Thread(target=front.track(delivery))
    worker.start()
    in_handler.wait(5)
    taken = []

    def poller():
        with front.batch(limit=0.2):
            taken.append("batch")

    waiting = threading.Thread(target=poller)
    waiting.start()
    waiting.join(timeout=5)  # a delivery is still being answered: the batch goes after 0.2 s anyway
    assert taken == ["batch"]
    release.set()
    worker.join(timeout=5)
