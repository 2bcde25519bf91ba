"""A real headless Chromium and small local HTTP servers, for tests that drive a browser."""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

# `.ci/run` runs the suite twice (PostgreSQL, then the embedded defaults) and sets
# CDP_TESTS_BROWSER_ONCE=1 for the second pass: what a browser sees does not depend on the
# database, so the browser tests run in the first pass only.
BROWSER_RAN_ALREADY = os.environ.get("CDP_TESTS_BROWSER_ONCE") == "1"
needs_chromium = pytest.mark.skipif(
    BROWSER_RAN_ALREADY or not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="browser tests ran in the first pass (CDP_TESTS_BROWSER_ONCE=1)"
    if BROWSER_RAN_ALREADY
    else "needs Debian's chromium and chromedriver at /usr/bin/chromium and "
    "/usr/bin/chromedriver (apt-get install chromium chromium-driver)",
)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler] | partial[Any]) -> Iterator[str]:
    """A threaded HTTP server on a free local port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]  # a partial of a handler class is a handler factory
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def static_site(root: Path) -> partial[QuietHandler]:
    """A handler serving the files under `root`: the organisation's own web site."""
    return partial(QuietHandler, directory=str(root))


@contextmanager
def chromium(profile_dir: Path, *, extra_arguments: Sequence[str] = ()) -> Iterator[Any]:
    """A headless Chromium driven by selenium, with its own profile directory."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (*CHROME_ARGUMENTS, *extra_arguments):
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={profile_dir}")
    # The console, for tests that check a page logs no error (e.g. a CSP violation).
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Network:
    """What the browser's calls go through on their way to the server: a reverse proxy that
    can answer 503 to the next calls, once with the call lost and once with only its
    answer lost (the server stored it; the client cannot know). Records every request."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.lock = threading.Lock()
        self.failures: list[str] = []  # "drop" or "lose", one per next POST
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def fail_next(self, *modes: str) -> None:
        with self.lock:
            self.failures.extend(modes)

    def posts(self) -> list[tuple[str, dict[str, str]]]:
        with self.lock:
            return [(path, headers) for method, path, headers in self.requests if method == "POST"]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        network = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.forward()

            def do_POST(self) -> None:
                self.forward()

            def do_OPTIONS(self) -> None:
                self.forward()

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {name: value for name, value in self.headers.items()}
                failure = ""
                with network.lock:
                    network.requests.append((self.command, self.path, headers))
                    if self.command == "POST" and network.failures:
                        failure = network.failures.pop(0)
                if failure != "drop":
                    status, reply_headers, reply = self.upstream_answer(body, headers)
                if failure:
                    status, reply = 503, b'{"error": "unavailable"}'
                    reply_headers = [("Content-Type", "application/json")]
                    if "Origin" in self.headers:  # let the script read the status
                        reply_headers.append(
                            ("Access-Control-Allow-Origin", self.headers["Origin"])
                        )
                self.send_response(status)
                for name, value in reply_headers:
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def upstream_answer(
                self, body: bytes, headers: dict[str, str]
            ) -> tuple[int, list[tuple[str, str]], bytes]:
                upstream = network.upstream
                connection = http.client.HTTPConnection(
                    upstream.hostname, upstream.port, timeout=30
                )
                try:
                    headers.pop("Connection", None)
                    connection.request(self.command, self.path, body=body or None, headers=headers)
                    answer = connection.getresponse()
                    return answer.status, answer.getheaders(), answer.read()
                finally:
                    connection.close()

        return Handler


def admin_log_in(
    driver: Any, base_url: str, username: str, password: str, *, language: str = ""
) -> None:
    """Log in through the admin's login page and wait until the admin answers (a click
    returns before the POST's redirect is followed; the next page would race it).
    `language` ("en", "fr") is the steward's choice, kept in the cookie the header's
    language switch sets."""
    from django.conf import settings
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url}/admin/login/")
    if language:
        driver.add_cookie({"name": settings.LANGUAGE_COOKIE_NAME, "value": language})
        driver.get(f"{base_url}/admin/login/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/admin/login/" not in d.current_url)


def wait_page_left(browser: Any, element: Any, timeout: float = 30) -> None:
    """Wait until the page `element` is on has been replaced (the next page loaded).

    While a page is being replaced Chromium may answer a question about one of its
    elements with "does not belong to the document" instead of a stale element: both
    mean the page went.
    """
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def gone(_: Any) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
        return False

    WebDriverWait(browser, timeout).until(gone)
