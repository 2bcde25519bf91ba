"""Snippets a site pastes to load Segment's or RudderStack's browser SDK, pointed at the CDP.

The site serves its own copy of the SDK's file (from the npm package, named in the
snippet), so no other vendor's service is involved: the SDK reads its settings from the
CDP and sends every call there.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import escape

# The file of each npm package a site copies, and where the snippet expects it.
SDK_FILES = {
    "segment": (
        "@segment/analytics-next/dist/umd/index.js",
        "/js/analytics-next.js",
    ),
    "rudderstack": (
        "@rudderstack/analytics-js/dist/npm/modern/bundled/umd/index.js",
        "/js/rudderstack.js",
    ),
}


def _js(value: Any) -> str:
    """A JSON literal safe inside an HTML <script> element."""
    return json.dumps(value).replace("</", "<\\/")


def browser_sdk_snippet(
    *, sdk: str, base_url: str, write_key: str = "WRITE_KEY", script_src: str = ""
) -> str:
    """HTML loading the site's copy of one SDK, sending to the CDP at `base_url`."""
    package_file, default_src = SDK_FILES[sdk]
    cdp = base_url.rstrip("/")
    src = script_src or default_src
    if sdk == "segment":
        settings = {"writeKey": write_key, "cdnURL": cdp}
        # keepalive: a call made just before the page unloads is still delivered.
        options: dict[str, Any] = {
            "integrations": {"Segment.io": {"deliveryStrategy": {"config": {"keepalive": True}}}}
        }
        body = (
            "  window.analytics = AnalyticsNext.AnalyticsBrowser.load(\n"
            f"    {_js(settings)},\n    {_js(options)}\n  );\n"
        )
    else:
        # Calls are resent after an error and kept across pages until delivered; with
        # `useBeacon: true` they go by navigator.sendBeacon instead, which outlives the page
        # but is never resent, and waits for the page to hide (or beaconQueueOptions).
        options = {"configUrl": cdp}
        body = (
            "  window.analytics = new rudderanalytics.RudderAnalytics();\n"
            f"  analytics.load({_js(write_key)}, {_js(cdp)}, {_js(options)});\n"
        )
    return (
        f"<!-- {src}: a copy of node_modules/{package_file} -->\n"
        f'<script src="{escape(src)}"></script>\n'
        f"<script>\n{body}  analytics.page();\n</script>\n"
    )
