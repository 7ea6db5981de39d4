"""Hostile segment ids, rule names and customer ids render inert on the drift dashboard.

The dashboard writes what ``/dashboard/data`` says into markup: segment ids into
attribute values (``data-segment='...'``), names and customers into table cells. They
come from outside the page (the model topic, peers' answers, the profile changelog, the
rules file), so every one of them is escaped, quotes included. The real page is served
with data built by the worker's own merge of its part and a (hostile) peer's part, and
rendered by headless Chromium.
"""

from __future__ import annotations

import itertools
import shutil
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pytest
from helpers import START, Clock, memory_pipeline
from kafkatest import CHROMIUM, render
from prometheus_client import CollectorRegistry

from segflow.models.config import EngineConfig
from segflow.streams.api import local_view, merge_dashboard
from segflow.streams.views import (
    DASHBOARD_DATA_PATH,
    DASHBOARD_SCRIPT_PATH,
    DASHBOARD_STYLE_PATH,
    LocalView,
    SizePoint,
    Transition,
)

#: Break out of a single-quoted attribute (the page's own quoting), of a double-quoted
#: one, and out of the tag.
HOSTILE_SEGMENTS = (
    "seg-1' onmouseover='alert(7)' style='position:fixed;inset:0",
    'seg-2" onmouseover="alert(8)',
    "seg-3'><img src=x onerror=alert(9)>",
)
HOSTILE_RULE_NAME = "<img src=x onerror=alert(1)>Hot \"lead' onmouseover='alert(2)"
HOSTILE_CUSTOMER = "<script>alert(3)</script>"
#: Every element the page itself makes (its markup, the tables, the chart).
PAGE_TAGS = {"html", "head", "meta", "title", "style", "link", "body", "h1", "h2",
             "div", "svg", "table", "tbody", "tr", "th", "td", "script", "line", "text",
             "polyline"}  # fmt: skip

RULES = f"""segments:
  - id: hot-lead
    name: '{HOSTILE_RULE_NAME.replace("'", "''")}'
    when: {{field: features.purchases, op: gt, value: 0.5}}
"""


class Elements(HTMLParser):
    """Every element of a document with its attributes, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def dashboard_data(tmp_path: Path) -> bytes:
    """``/dashboard/data`` as a worker merges it: its own part (rules with a hostile
    name, a rule change) and a peer's part full of hostile segment ids."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    engine = EngineConfig(warmup_samples=10, warmup_days=0, rules_file=rules)
    clock = Clock(START.timestamp())
    pipeline = memory_pipeline(tmp_path, clock, CollectorRegistry(), engine=engine)
    assert pipeline.segment_names()["hot-lead"] == HOSTILE_RULE_NAME
    now = clock()
    pipeline.recent_changes.append(
        {"emitted_at": "2026-01-05T00:00:01Z", "customer_id": HOSTILE_CUSTOMER, "kind": "rule",
         "from_segment": None, "to_segment": "hot-lead", "to_name": HOSTILE_RULE_NAME}
    )  # fmt: skip
    sizes = {segment: 3 + i for i, segment in enumerate(HOSTILE_SEGMENTS)}
    peer = LocalView(
        worker="http://peer:6066",
        sizes=sizes,
        history=[SizePoint(t=now - 10, sizes=sizes), SizePoint(t=now, sizes=sizes)],
        transitions=[
            Transition(kind="behavioral", from_segment=a, to_segment=b, count=1)
            for a, b in itertools.pairwise(HOSTILE_SEGMENTS)
        ],
        changes=[
            {
                "emitted_at": "2026-01-05T00:00:02Z",
                "customer_id": HOSTILE_CUSTOMER,
                "kind": "behavioral",
                "from_segment": HOSTILE_SEGMENTS[0],
                "to_segment": HOSTILE_SEGMENTS[2],
                "to_name": None,
            }
        ],
        drifts=[
            {
                "detected_at": "2026-01-05T00:00:03Z",
                "segment": HOSTILE_SEGMENTS[1],
                "statistic": "share",
                "old_level": 0.1,
                "new_level": 0.4,
                "model_version": 1,
            }
        ],
    )
    parts = [local_view(pipeline, pipeline.web_state), peer]
    view = merge_dashboard(pipeline, parts, True, now)
    assert set(HOSTILE_SEGMENTS) <= set(view.sizes)
    return view.model_dump_json().encode()


@pytest.fixture
def page_server(tmp_path: Path) -> Iterator[int]:
    """The real dashboard page and the merged hostile data, on a local port."""
    static = resources.files("segflow.streams").joinpath("static")
    data = dashboard_data(tmp_path)
    routes = {
        "/": (static.joinpath("dashboard.html").read_bytes(), "text/html"),
        DASHBOARD_SCRIPT_PATH: (static.joinpath("dashboard.js").read_bytes(), "text/javascript"),
        DASHBOARD_STYLE_PATH: (static.joinpath("dashboard.css").read_bytes(), "text/css"),
        DASHBOARD_DATA_PATH: (data, "application/json"),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, kind = routes.get(self.path, (b"", "text/plain"))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_hostile_segment_ids_rule_names_and_customers_render_inert(
    page_server: int, tmp_path: Path
) -> None:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), "install Debian's chromium"
    dom = Elements()
    dom.feed(render(page_server, tmp_path / "chromium"))
    text = "".join(dom.text)
    assert "1 worker(s)" not in text and "2 worker(s)" in text, text[:500]  # it rendered

    # Nothing injected: no event handler anywhere, no element the page does not make.
    handlers = [
        (tag, name) for tag, attrs in dom.elements for name in attrs if name.startswith("on")
    ]
    assert handlers == []
    tags = {tag for tag, _ in dom.elements}
    assert tags <= PAGE_TAGS, tags - PAGE_TAGS
    assert sum(tag == "script" for tag, _ in dom.elements) == 1
    styled = [tag for tag, attrs in dom.elements if "style" in attrs]
    assert styled == []

    # And every hostile value is there, as the text it is.
    series = [attrs for tag, attrs in dom.elements if tag == "polyline"]
    assert sorted(str(attrs.get("data-segment")) for attrs in series) == sorted(HOSTILE_SEGMENTS)
    assert all(
        set(attrs) == {"class", "data-segment", "fill", "stroke", "points"} for attrs in series
    )
    for value in (*HOSTILE_SEGMENTS, HOSTILE_RULE_NAME, HOSTILE_CUSTOMER):
        assert value in text, value
