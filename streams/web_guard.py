"""What every request to a worker's web server passes first: aiohttp middleware on
Faust's web app (installed through Faust's public ``web_application_options``).

In order, for every request:

1. **Host.** The ``Host`` header must name an allowed host
   (``SEGFLOW_WEB_ALLOWED_HOSTS``; by default localhost, 127.0.0.1, ::1 and the
   machine's host name), this worker's advertised host, a host of one of the group's
   workers (how they call each other), or the IP address the request arrived at.
   Anything else is answered 400: a page that DNS-rebinds its own name to a worker
   cannot read it.
2. **Token.** With ``SEGFLOW_WEB_TOKEN`` set, every route but ``/healthz`` and
   ``/metrics`` needs ``Authorization: Bearer <token>`` or the dashboard's cookie
   (401 with a JSON error otherwise; compared in constant time). ``GET /?token=<token>``
   sets that cookie (HttpOnly, SameSite=Lax) and redirects to ``/``, so a person opens
   the dashboard once with the token and its fetches carry the cookie.
3. **Headers.** Every answer, errors included, carries a strict
   ``Content-Security-Policy`` (the dashboard's script and style are files of their
   own), ``X-Content-Type-Options``, ``X-Frame-Options``, ``Referrer-Policy`` and
   ``Cache-Control: no-store``. Errors aiohttp raises (404, 405) are answered as JSON
   ``{"detail": ...}``, like the API's own; an unexpected exception as a JSON 500.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import hdrs, web
from pydantic import SecretStr
from yarl import URL

from .ops_pages import METRICS_PATH
from .setting_groups import host_name
from .settings import Settings
from .views import DASHBOARD_PATH, HEALTH_PATH, LIVE_PATH

log = logging.getLogger("segflow.streams")

#: Routes anyone who may reach the port may read (probes, Prometheus).
OPEN_PATHS = frozenset({HEALTH_PATH, LIVE_PATH, METRICS_PATH})
#: The dashboard's cookie, and the query parameter of ``/`` that sets it.
TOKEN_COOKIE = "segflow_token"
TOKEN_QUERY = "token"
#: Host names allowed when ``SEGFLOW_WEB_ALLOWED_HOSTS`` is unset (with the machine's).
DEFAULT_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_HOST_HEADER = re.compile(r"^(?:\[(?P<v6>[^\]]*)\]|(?P<name>[^:\[\]]*))(?::\d{1,5})?$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bearer_headers(token: SecretStr | None) -> dict[str, str]:
    """The headers a request to another worker carries (none without a token)."""
    return {} if token is None else {"Authorization": f"Bearer {token.get_secret_value()}"}


def host_of(header: str | None) -> str | None:
    """The host a ``Host`` header names (see :func:`~.settings.host_name`), None if malformed.

    >>> host_of("LocalHost:6066"), host_of("[::1]:6066"), host_of("a.example")
    ('localhost', '::1', 'a.example')
    >>> host_of("a.example:port"), host_of("a@b.example"), host_of(""), host_of(None)
    (None, None, None, None)
    """
    match = _HOST_HEADER.match(header.strip()) if header else None
    if match is None:
        return None
    if match["v6"] is not None:
        return host_name(match["v6"]) if ":" in match["v6"] else None
    return host_name(match["name"])


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def _error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"detail": detail}, status=status, headers=headers)


class WebGuard:
    """The checks of one worker; :attr:`middleware` goes on its aiohttp app.

    ``peers`` gives the URLs of the group's workers (Faust's table assignment metadata),
    whose hosts are always allowed.
    """

    def __init__(self, settings: Settings, peers: Callable[[], Iterable[str]] = lambda: ()) -> None:
        self.peers = peers
        listed = settings.allowed_hosts
        self.any_host = listed is not None and "*" in listed
        names = set(DEFAULT_HOSTS | {socket.gethostname().lower()} if listed is None else listed)
        own = host_name(settings.web_advertised_host or settings.web_bind)
        if own is not None:
            names.add(own)
        self.hosts = frozenset(names)
        self.token = settings.web_token
        self._token_digest = _digest(self.token.get_secret_value() if self.token else "")

    # -- the checks ------------------------------------------------------------------

    def host_allowed(self, header: str | None, transport: Any) -> bool:
        """Whether a request with this ``Host`` header, on this connection, may go on."""
        if self.any_host:
            return True
        host = host_of(header)
        if host is None:
            return False
        if host in self.hosts:
            return True
        address = _address(host)
        if address is not None and transport is not None:
            local = transport.get_extra_info("sockname")
            if isinstance(local, tuple) and local and _address(str(local[0])) == address:
                return True
        return host in self._peer_hosts()

    def _peer_hosts(self) -> set[str]:
        try:
            urls = list(self.peers())
        except Exception:  # no assignment yet
            return set()
        hosts = (host_name(URL(str(url)).host or "") for url in urls)
        return {host for host in hosts if host}

    def _matches(self, given: str | None) -> bool:
        """Whether ``given`` is the token: digests compared in constant time (which
        also hides the token's length)."""
        if given is None or self.token is None:
            return False
        return hmac.compare_digest(_digest(given), self._token_digest)

    def authorized(self, request: web.Request) -> bool:
        """Whether the request carries the token (header or cookie), or none is needed."""
        if self.token is None or request.path in OPEN_PATHS:
            return True
        scheme, _, credentials = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if scheme.lower() == "bearer" and self._matches(credentials.strip()):
            return True
        return self._matches(request.cookies.get(TOKEN_COOKIE))

    # -- the middleware --------------------------------------------------------------

    def _refuse(self, request: web.Request) -> web.StreamResponse | None:
        """The answer to a request that may not go on (None: it may)."""
        if not self.host_allowed(request.headers.get(hdrs.HOST), request.transport):
            return _error(400, "host not allowed (see SEGFLOW_WEB_ALLOWED_HOSTS)")
        if (
            self.token is not None
            and request.path == DASHBOARD_PATH
            and TOKEN_QUERY in request.query
        ):
            return self._dashboard_login(request.query[TOKEN_QUERY])
        if not self.authorized(request):
            return _error(
                401,
                "a token is required: Authorization: Bearer <SEGFLOW_WEB_TOKEN>",
                {hdrs.WWW_AUTHENTICATE: 'Bearer realm="segflow"'},
            )
        return None

    def _dashboard_login(self, given: str) -> web.StreamResponse:
        """``/?token=...``: the cookie for the dashboard's fetches, and the URL without it."""
        if not self._matches(given):
            return _error(401, "wrong token", {hdrs.WWW_AUTHENTICATE: 'Bearer realm="segflow"'})
        response = web.Response(status=303, headers={hdrs.LOCATION: DASHBOARD_PATH})
        response.set_cookie(TOKEN_COOKIE, given, path="/", httponly=True, samesite="Lax")
        return response

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return self._refuse(request) or await handler(request)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            # aiohttp's own answers (no such route, method not allowed) as the API's JSON.
            kept = {k: v for k, v in error.headers.items() if k.lower() not in _BODY_HEADERS}
            return _error(error.status, error.reason, kept)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return _error(500, "internal error")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await self._answer(request, handler)
        except web.HTTPException as error:  # a redirect or other non-error status
            error.headers.update(SECURITY_HEADERS)
            raise
        response.headers.update(SECURITY_HEADERS)
        return response


_BODY_HEADERS = frozenset({"content-type", "content-length"})
