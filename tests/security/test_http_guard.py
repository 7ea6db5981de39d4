"""The worker's HTTP surface on a hostile network (issue "The HTTP surface").

Two live workers on the test broker share a bearer token. A page that DNS-rebinds its
own name to a worker sends that name as ``Host``: it is refused. Every route but
``/healthz`` and ``/metrics`` needs the token (header, or the dashboard's cookie);
the workers' own fan-out and routing carry it. Every answer has the security headers,
and Faust's built-in pages (``/router``, ``/table``, ...) are not served.
"""

from __future__ import annotations

import http.client
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from kafkatest import (
    CHROMIUM,
    WorkerProc,
    isolated_settings,
    prepare,
    render,
    send_events,
    wait_until,
)

from segflow.models.events import BaseEvent, ClickEvent
from segflow.streams.broker import LocalBroker
from segflow.streams.partitioning import partition_of
from segflow.streams.settings import Settings

TOKEN = "segflow-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CUSTOMERS = [f"guard-{c:02d}" for c in range(12)]
#: Routes that need the token (with a status each answers once it is given).
PROTECTED = {
    "/segments": 200,
    f"/customers/{CUSTOMERS[0]}": 200,
    "/customers/nobody-here": 404,
    "/dashboard/data": 200,
    "/": 200,
    "/segflow/stats/": 200,
    "/segflow/local/": 200,
    "/openapi.json": 200,
    "/no/such/page": 404,
}
OPEN = ("/healthz", "/metrics")
FAUST_ROUTES = (
    "/router/",
    "/router/topics",
    "/router/profiles/",
    "/table/",
    "/table/profiles/",
    f"/table/profiles/{CUSTOMERS[0]}/",
    "/graph/",
    "/assignment/",
    "/performance/",
)


class Reply:
    def __init__(self, status: int, headers: Message, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def request(port: int, path: str, headers: dict[str, str] | None = None) -> Reply:
    """One GET, redirects not followed; ``Host`` is ``127.0.0.1:port`` unless given.
    Status 0: nothing answered."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    except OSError:
        return Reply(0, Message(), b"")
    finally:
        connection.close()


def traffic() -> list[BaseEvent]:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    return [
        ClickEvent(
            event_id=f"{cid}-{n}",
            customer_id=cid,
            occurred_at=start + timedelta(hours=n),
            url="https://x/pricing",
            properties={"email": f"{cid}@example.com"},
        )
        for cid in CUSTOMERS
        for n in range(3)
    ]


class Deployment:
    def __init__(self, settings: Settings, a: WorkerProc, b: WorkerProc) -> None:
        self.settings = settings
        self.a, self.b = a, b

    def owner_and_other(self, customer: str) -> tuple[WorkerProc, WorkerProc]:
        partition = partition_of(customer.encode(), self.settings.partitions)
        if partition in self.assignment(self.a):
            return self.a, self.b
        return self.b, self.a

    def assignment(self, worker: WorkerProc) -> set[int]:
        reply = request(worker.port, "/segflow/stats/", AUTH)
        if reply.status != 200:
            return set()
        return set(reply.json().get("assignment", {}).get(self.settings.topics.events, []))

    def applied(self) -> int:
        total = 0
        for worker in (self.a, self.b):
            reply = request(worker.port, "/segflow/stats/", AUTH)
            if reply.status == 200:
                total += int(reply.json()["counts"].get("events_applied", 0))
        return total


@pytest.fixture(scope="module")
def deployment(
    broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Two workers with a token, every partition owned, every test event applied."""
    tmp = tmp_path_factory.mktemp("http-guard")
    settings = isolated_settings(broker, tmp, web_token=TOKEN)
    prepare(settings)
    a = WorkerProc(settings, tmp / "a.log").start()
    b = WorkerProc(settings, tmp / "b.log").start()
    deployment = Deployment(settings, a, b)
    try:

        def split() -> bool:
            mine, theirs = deployment.assignment(a), deployment.assignment(b)
            return bool(mine) and bool(theirs) and len(mine | theirs) == settings.partitions

        assert wait_until(split), (a.log_tail(), b.log_tail())
        assert wait_until(lambda: all(request(w.port, "/healthz").status == 200 for w in (a, b))), (
            a.log_tail(),
            b.log_tail(),
        )
        events = traffic()
        send_events(settings, events)
        assert wait_until(lambda: deployment.applied() == len(events)), deployment.applied()
        yield deployment
    finally:
        a.stop()
        b.stop()


@pytest.mark.kafka
def test_a_foreign_host_header_is_refused(deployment: Deployment) -> None:
    port = deployment.a.port
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.nip.example:{port}", ""):
        for path in ("/segments", f"/customers/{CUSTOMERS[0]}", "/", "/healthz", "/metrics"):
            reply = request(port, path, {**AUTH, "Host": host})
            assert reply.status == 400, (host, path, reply.status)
            assert "detail" in reply.json()
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        reply = request(port, "/segments", {**AUTH, "Host": host})
        assert reply.status == 200, (host, reply.status, reply.body[:200])


@pytest.mark.kafka
def test_every_route_but_health_and_metrics_needs_the_token(deployment: Deployment) -> None:
    port = deployment.b.port
    for path, status in PROTECTED.items():
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"},
                        {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):  # fmt: skip
            reply = request(port, path, headers)
            assert reply.status == 401, (path, headers, reply.status)
            assert reply.headers["Content-Type"].startswith("application/json")
            assert "detail" in reply.json()
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        reply = request(port, path, AUTH)
        assert reply.status == status, (path, reply.status, reply.body[:300])
        # The scheme is case-insensitive (RFC 7235).
        assert request(port, path, {"Authorization": f"bearer {TOKEN}"}).status == status
        # The dashboard's token in the URL opens nothing but the dashboard.
        if path != "/":
            assert request(port, f"{path}?token={TOKEN}").status == 401, path
    for path in OPEN:
        assert request(port, path).status == 200, path


@pytest.mark.kafka
def test_fan_out_and_routing_between_workers_carry_the_token(deployment: Deployment) -> None:
    for worker in (deployment.a, deployment.b):
        segments = request(worker.port, "/segments", AUTH).json()
        assert segments["workers"] == 2 and segments["complete"], segments
        dashboard = request(worker.port, "/dashboard/data", AUTH).json()
        assert dashboard["workers"] == 2 and dashboard["complete"], dashboard
    asked = set()
    for customer in CUSTOMERS:
        owner, other = deployment.owner_and_other(customer)
        reply = request(other.port, f"/customers/{customer}", AUTH)
        assert reply.status == 200, (customer, reply.status, reply.body[:300])
        body = reply.json()
        assert body["customer_id"] == customer
        assert body["served_by"].endswith(f":{owner.port}")
        assert body["properties"] == {"email": f"{customer}@example.com"}
        asked.add(owner.port)
    assert asked == {deployment.a.port, deployment.b.port}


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def assert_security_headers(reply: Reply, what: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert reply.headers.get(name) == value, (what, name, reply.headers.get(name))
    csp = reply.headers.get("Content-Security-Policy") or ""
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("default-src") == ["'self'"], (what, csp)
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, (what, csp)
    assert directives.get("frame-ancestors") == ["'none'"], (what, csp)


@pytest.mark.kafka
def test_every_answer_has_the_security_headers(deployment: Deployment) -> None:
    port = deployment.a.port
    answers = {
        "200 /segments": request(port, "/segments", AUTH),
        "200 /": request(port, "/", AUTH),
        "200 /healthz": request(port, "/healthz"),
        "200 /metrics": request(port, "/metrics"),
        "401 /segments": request(port, "/segments"),
        "404 customer": request(port, "/customers/nobody-here", AUTH),
        "404 route": request(port, "/no/such/page", AUTH),
        "400 host": request(port, "/segments", {**AUTH, "Host": "evil.example"}),
    }
    for what, reply in answers.items():
        assert str(reply.status) == what.split()[0], (what, reply.status)
        assert_security_headers(reply, what)
    # A routed answer (asked at the worker that does not own the customer) too.
    for customer in CUSTOMERS:
        _, other = deployment.owner_and_other(customer)
        if other is deployment.a:
            reply = request(other.port, f"/customers/{customer}", AUTH)
            assert reply.status == 200
            assert_security_headers(reply, "routed customer")
            break


@pytest.mark.kafka
def test_fausts_own_pages_are_not_served(deployment: Deployment) -> None:
    for path in FAUST_ROUTES:
        reply = request(deployment.a.port, path, AUTH)
        assert reply.status == 404, (path, reply.status, reply.body[:200])


@pytest.mark.kafka
def test_the_dashboard_opens_with_the_token_and_keeps_it_in_a_cookie(
    deployment: Deployment, tmp_path: Path
) -> None:
    port = deployment.a.port
    assert request(port, "/?token=wrong-token-0123456789").status == 401
    login = request(port, f"/?token={TOKEN}")
    assert login.status == 303, login.status
    assert login.headers["Location"] == "/"
    cookie = login.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path"} <= attributes, cookie
    jar = cookie.split(";")[0]
    page = request(port, "/", {"Cookie": jar})
    assert page.status == 200 and b"<html" in page.body
    assert b"<script>" not in page.body  # the script is a file of its own (CSP)
    assert request(port, "/dashboard/data", {"Cookie": jar}).status == 200
    assert request(port, "/segments", {"Cookie": "segflow_token=wrong"}).status == 401

    # As a browser shows it (it enforces the Content-Security-Policy).
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), "install Debian's chromium"
    dom = render(f"http://127.0.0.1:{port}/?token={TOKEN}", tmp_path / "chromium")
    assert "segflow: segment drift" in dom
    assert "2 worker(s)" in dom, dom[-2000:]


# -- without a broker: the settings, the routes Faust registers, the guard itself ----------


def test_the_token_is_a_secret_that_reaches_worker_processes() -> None:
    from segflow.streams.settings import load_settings, settings_env

    settings = Settings(web_token=TOKEN)  # type: ignore[arg-type]
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert settings_env(settings)["SEGFLOW_WEB_TOKEN"] == TOKEN
    assert "SEGFLOW_WEB_TOKEN" not in settings_env(Settings())
    from segflow.models.errors import ConfigError

    for bad in ("short", "has a space in it 0123456789", "semi;colon-0123456789abcdef", ""):
        with pytest.raises(ConfigError, match="SEGFLOW_WEB_TOKEN"):
            load_settings(web_token=bad)


def test_allowed_hosts_are_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from segflow.models.errors import ConfigError
    from segflow.streams.settings import load_settings, settings_env

    monkeypatch.setenv("SEGFLOW_WEB_ALLOWED_HOSTS", " Segflow.Example.com, 10.0.0.7 ,[::1]")
    settings = load_settings()
    assert settings.allowed_hosts == frozenset({"segflow.example.com", "10.0.0.7", "::1"})
    monkeypatch.setenv(
        "SEGFLOW_WEB_ALLOWED_HOSTS", settings_env(settings)["SEGFLOW_WEB_ALLOWED_HOSTS"]
    )
    assert load_settings() == settings
    monkeypatch.delenv("SEGFLOW_WEB_ALLOWED_HOSTS")
    assert Settings().allowed_hosts is None  # the defaults
    assert Settings(web_allowed_hosts="*").allowed_hosts == frozenset({"*"})
    for bad in ("a.example,,b.example", "evil/path", "user@host", "a.example:80"):
        with pytest.raises(ConfigError, match="SEGFLOW_WEB_ALLOWED_HOSTS"):
            load_settings(web_allowed_hosts=bad)


def _routes(settings: Settings) -> set[str]:
    from segflow.streams.app import create_app

    app = create_app(settings)
    app.finalize()
    app.web.init_server()
    return {route.resource.canonical for route in app.web.web_app.router.routes() if route.resource}


def test_fausts_pages_are_registered_only_when_asked(tmp_path: Path) -> None:
    base = Settings(store="memory://", data_dir=tmp_path, web_port=16066)
    default = _routes(base)
    assert {"/segments", "/healthz", "/metrics", "/"} <= default
    assert not {r for r in default if r.startswith(("/router", "/table", "/graph"))}, default
    assert "/assignment/" not in default
    asked = _routes(base.model_copy(update={"web_faust_routes": True}))
    assert {"/router/", "/table/", "/table/{name}/{key}/", "/assignment/"} <= asked


class _Transport:
    def __init__(self, local: str) -> None:
        self.local = local

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.local, 6066) if name == "sockname" else default


@pytest.mark.parametrize(
    ("allowed", "host", "local", "ok"),
    [
        (None, "localhost:6066", "127.0.0.1", True),
        (None, "LOCALHOST.:6066", "127.0.0.1", True),
        (None, "[::1]:6066", "::1", True),
        (None, "advertised.internal:6066", "10.1.2.3", True),
        (None, "peer.internal:6067", "10.1.2.3", True),
        (None, "10.1.2.3:6066", "10.1.2.3", True),  # the address it was reached at
        (None, "10.1.2.4:6066", "10.1.2.3", False),
        (None, "evil.example", "127.0.0.1", False),
        (None, "", "127.0.0.1", False),
        (None, None, "127.0.0.1", False),
        (None, "localhost:6066@evil.example", "127.0.0.1", False),
        (None, "localhost:port", "127.0.0.1", False),
        ("dash.example", "localhost:6066", "127.0.0.1", False),  # the list replaces the names
        ("dash.example", "Dash.Example:443", "127.0.0.1", True),
        ("dash.example", "advertised.internal:6066", "127.0.0.1", True),  # peers: always
        ("*", "anything.example", "127.0.0.1", True),
    ],
)
def test_which_host_headers_pass(
    allowed: str | None, host: str | None, local: str, ok: bool
) -> None:
    from segflow.streams.web_guard import WebGuard

    settings = Settings(web_allowed_hosts=allowed, web_advertised_host="advertised.internal")
    guard = WebGuard(settings, peers=lambda: {"http://peer.internal:6067"})
    assert guard.host_allowed(host, _Transport(local)) is ok
