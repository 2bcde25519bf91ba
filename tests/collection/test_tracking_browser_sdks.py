"""Segment's analytics.js and RudderStack's JavaScript SDK, unmodified from the npm
registry, loaded from the site's own copy in a real headless Chromium, pointed at a live
server: every call is stored exactly once (online, offline then online, after a 503, on a
page unload), and nothing from an origin the source does not list.

The packages are pinned in tests/browser_sdk/package-lock.json; `npm ci` installs them
when node_modules is missing. The calls reach the server through `Network`, a reverse
proxy that can answer 503 in its place.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from collection.api.tracking.sdk_settings import rudderstack_source_config, segment_settings
from collection.services.sdk_snippets import SDK_FILES, browser_sdk_snippet
from profiles.models import Event, Profile, Source
from tests.browser import Network, chromium, http_server, needs_chromium, static_site

SDK_DIR = Path(__file__).resolve().parent.parent / "browser_sdk"
# The files a site serves from its own domain, where the admin's snippets expect them: the
# UMD build of analytics-next (it exposes `AnalyticsNext`) and RudderStack's bundled UMD
# build (plugins included, nothing fetched from its CDN; it exposes `rudderanalytics`).
BUNDLES = {src: f"node_modules/{package_file}" for package_file, src in SDK_FILES.values()}
WAIT_SECONDS = 40

pytestmark = [
    pytest.mark.slow,
    needs_chromium,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="session")
def sdk_bundles() -> dict[str, Path]:
    """The SDKs' files, installed from the lock file once (one installer at a time)."""
    if shutil.which("npm") is None:
        pytest.skip("needs npm (and node) to install the browser SDKs from the npm registry")
    with (SDK_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (SDK_DIR / "node_modules").is_dir():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=SDK_DIR,
                check=True,
                timeout=600,
            )
    return {name: SDK_DIR / path for name, path in BUNDLES.items()}


@pytest.fixture(autouse=True)
def _once_on_postgresql(settings: Any) -> None:
    """These runs take a browser and tens of seconds; what they check is HTTP, CORS and
    the SDKs' retries, the same on either database, so they run once, on PostgreSQL."""
    if connection.vendor != "postgresql":
        pytest.skip("browser SDK runs are run once, on the PostgreSQL pass of the suite")
    settings.CDP_INTAKE_MODE = "sync"


@pytest.fixture
def network(live_server: Any) -> Iterator[tuple[str, Network]]:
    network = Network(live_server.url)
    with http_server(network.handler()) as url:
        yield url, network


@pytest.fixture
def site(tmp_path: Path, sdk_bundles: dict[str, Path]) -> Iterator[tuple[str, Path]]:
    """The organisation's web site, which serves its own copy of the SDKs."""
    root = tmp_path / "site"
    (root / "js").mkdir(parents=True)
    for src, path in sdk_bundles.items():
        shutil.copyfile(path, root / src.lstrip("/"))
    (root / "bye.html").write_text("<!doctype html><title>Bye</title><h1>Bye</h1>")
    with http_server(static_site(root)) as url:
        yield url, root


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    # Any host but this machine is unreachable: a call to another vendor's service fails.
    rules = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    with chromium(tmp_path / "chromium-profile", extra_arguments=[rules]) as driver:
        yield driver


def segment_page(*, write_key: str, cdp: str, options: dict[str, Any], embedded: Any = None) -> str:
    """The snippet of docs/ingestion.md: the site's copy of analytics.js, settings from
    the CDP (or, `embedded`, from the page itself)."""
    settings = {"writeKey": write_key, "cdnURL": cdp}
    if embedded is not None:
        settings["cdnSettings"] = embedded
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<script src="/js/analytics-next.js"></script>
<script>
  window.analytics = AnalyticsNext.AnalyticsBrowser.load(
    {json.dumps(settings)}, {json.dumps(options)}
  );
</script></head><body><h1>Shop</h1></body></html>"""


def rudderstack_page(
    *, write_key: str, cdp: str, options: dict[str, Any], embedded: Any = None
) -> str:
    """The snippet of docs/ingestion.md: the site's copy of RudderStack's SDK, its source
    configuration from the CDP (or, `embedded`, from the page itself)."""
    load_options = {"configUrl": cdp, **options}
    embed = (
        f"options.getSourceConfig = () => ({json.dumps(embedded)});" if embedded is not None else ""
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<script src="/js/rudderstack.js"></script>
<script>
  const options = {json.dumps(load_options)};
  {embed}
  window.analytics = new rudderanalytics.RudderAnalytics();
  window.analytics.load({json.dumps(write_key)}, {json.dumps(cdp)}, options);
</script></head><body><h1>Shop</h1></body></html>"""


# Both SDKs back off between resends; short delays keep the runs short (site options).
SDKS: dict[str, tuple[Callable[..., str], dict[str, Any]]] = {
    "segment": (segment_page, {}),
    "rudderstack": (
        rudderstack_page,
        {"queueOptions": {"minRetryDelay": 300, "maxRetryDelay": 2000, "backoffFactor": 2}},
    ),
}

CALLS = """
  analytics.page("Docs", "Install", {path: "/install"});
  analytics.identify("u-42", {email: "Ada@Example.org", firstName: "Ada"});
  analytics.track("Report Downloaded", {format: "pdf"});
"""
EXPECTED = [
    ("identify", ""),
    ("page", "Install"),
    ("track", "Report Downloaded"),
]


@pytest.fixture(params=["segment", "rudderstack"])
def sdk(request: Any) -> str:
    return request.param


@pytest.fixture
def website(make_source: Any, site: tuple[str, Path]) -> tuple[Source, str]:
    return make_source("Website", kind="web_form", allowed_origins=[site[0]])


def open_shop(
    browser: Any,
    *,
    sdk: str,
    site: tuple[str, Path],
    cdp: str,
    key: str,
    embedded: Any = None,
    **options: Any,
) -> None:
    page, defaults = SDKS[sdk]
    origin, root = site
    html = page(write_key=key, cdp=cdp, options={**defaults, **options}, embedded=embedded)
    (root / "shop.html").write_text(html)
    browser.get(f"{origin}/shop.html")


def stored(source: Source) -> list[tuple[str, str]]:
    return sorted(Event.objects.filter(source=source).values_list("type", "name"))


def wait_for(source: Source, expected: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The events stored once `expected` are there (or the time is up), after a pause in
    which a duplicate would have landed."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and len(stored(source)) < len(expected):
        time.sleep(0.25)
    time.sleep(2)
    return stored(source)


def assert_one_profile_with_every_call(source: Source) -> None:
    events = list(Event.objects.filter(source=source))
    assert len({event.message_id for event in events}) == len(events)
    profile = Profile.objects.get(email="ada@example.org")
    assert {event.profile_id for event in events} == {profile.pk}


def test_online_every_call_of_the_admin_snippet_lands_once_on_one_profile(
    browser: Any, site: Any, network: Any, website: Any, sdk: str
) -> None:
    cdp, _ = network
    source, key = website
    origin, root = site
    snippet = browser_sdk_snippet(sdk=sdk, base_url=cdp, write_key=key)
    (root / "home.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><title>Home</title>'
        f"{snippet}</head><body><h1>Home</h1></body></html>"
    )
    browser.get(f"{origin}/home.html")

    browser.execute_script(CALLS)

    expected = sorted([("page", ""), *EXPECTED])
    assert wait_for(source, expected) == expected
    assert_one_profile_with_every_call(source)
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(url.startswith((origin, cdp)) for url in resources), resources


OFFLINE = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
ONLINE = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}


def test_calls_made_offline_land_once_when_back_online(
    browser: Any, site: Any, network: Any, website: Any, sdk: str
) -> None:
    cdp, _ = network
    source, key = website
    open_shop(browser, sdk=sdk, site=site, cdp=cdp, key=key)
    browser.execute_script("return new Promise(done => analytics.ready(() => done(true)))")
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", OFFLINE)

    browser.execute_script(CALLS)
    time.sleep(3)
    nothing_while_offline = stored(source)
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", ONLINE)

    assert nothing_while_offline == []
    assert wait_for(source, EXPECTED) == EXPECTED
    assert_one_profile_with_every_call(source)


RETRY_HEADERS = {"segment": "X-Retry-Count", "rudderstack": "Rsa-Retry-Attempt"}


def test_a_call_answered_503_is_sent_again_and_stored_once(
    browser: Any, site: Any, network: Any, website: Any, sdk: str
) -> None:
    cdp, proxy = network
    source, key = website
    open_shop(browser, sdk=sdk, site=site, cdp=cdp, key=key)
    browser.execute_script("return new Promise(done => analytics.ready(() => done(true)))")
    # The first call never reaches the server; the next one is stored but its answer lost.
    proxy.fail_next("drop", "lose")

    browser.execute_script(CALLS)

    assert wait_for(source, EXPECTED) == EXPECTED
    assert_one_profile_with_every_call(source)
    resent = [headers for _, headers in proxy.posts() if RETRY_HEADERS[sdk] in headers]
    assert len(resent) >= 2


# On a page unload, analytics.js sends with fetch keepalive (an option of its delivery);
# RudderStack's SDK with navigator.sendBeacon (its `useBeacon` option).
UNLOAD_OPTIONS = {
    "segment": {
        "integrations": {"Segment.io": {"deliveryStrategy": {"config": {"keepalive": True}}}}
    },
    "rudderstack": {"useBeacon": True},
}

UNLOAD_PATHS = {"segment": "/v1/t", "rudderstack": "/beacon/v1/batch"}


def test_a_call_made_just_before_leaving_the_page_lands_once(
    browser: Any, site: Any, network: Any, website: Any, sdk: str
) -> None:
    cdp, proxy = network
    source, key = website
    open_shop(browser, sdk=sdk, site=site, cdp=cdp, key=key, **UNLOAD_OPTIONS[sdk])
    browser.execute_script("return new Promise(done => analytics.ready(() => done(true)))")

    browser.execute_script(
        f'analytics.track("Checkout Left", {{step: 2}}); location.href = "{site[0]}/bye.html";'
    )

    assert wait_for(source, [("track", "Checkout Left")]) == [("track", "Checkout Left")]
    assert browser.current_url == f"{site[0]}/bye.html"
    assert [path.partition("?")[0] for path, _ in proxy.posts()] == [UNLOAD_PATHS[sdk]]


# A site may also embed the settings in its page: then the SDK posts its calls, and the
# server refuses them.
def embedded_settings(*, sdk: str, source: Source, key: str, cdp: str) -> dict[str, Any]:
    if sdk == "segment":
        host = cdp.removeprefix("http://")
        return segment_settings(write_key=key, api_host=f"{host}/v1", protocol="http")
    return rudderstack_source_config(source=source)


@pytest.mark.parametrize("settings_from", ["server", "page"])
def test_an_origin_the_source_does_not_list_stores_nothing(
    browser: Any, site: Any, network: Any, make_source: Any, sdk: str, settings_from: str
) -> None:
    cdp, proxy = network
    source, key = make_source(
        "Other site", kind="web_form", allowed_origins=["https://shop.example"]
    )
    embedded = (
        embedded_settings(sdk=sdk, source=source, key=key, cdp=cdp)
        if settings_from == "page"
        else None
    )
    open_shop(browser, sdk=sdk, site=site, cdp=cdp, key=key, embedded=embedded)

    browser.execute_script(CALLS)
    time.sleep(4)

    assert Event.objects.count() == 0
    assert Profile.objects.count() == 0
    if settings_from == "page":
        assert proxy.posts()  # the calls were sent, and refused
    else:
        # Only the settings were asked for (RudderStack's request is preflighted): refused.
        assert [method for method, _, _ in proxy.requests if method != "OPTIONS"] == ["GET"]
