"""Segment-compatible tracking API under /v1/, with or without a trailing slash."""

from django.urls import URLPattern, URLResolver, path

from collection.api.tracking import sdk_settings, views

_VIEWS = {
    "identify": views.IdentifyView,
    "track": views.TrackView,
    "page": views.PageView,
    "screen": views.ScreenView,
    "group": views.GroupView,
    "alias": views.AliasView,
    "batch": views.BatchView,
    "import": views.ImportView,
}
# Analytics.js posts to the first letter of the call's type (/v1/t, /v1/p, ..., /v1/b).
_SHORT = {
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
    "b": "batch",
}

urlpatterns: list[URLPattern | URLResolver] = []
for _name, _view in _VIEWS.items():
    urlpatterns += [
        path(_name, _view.as_view(), name=f"tracking-{_name}"),
        # Segment's libraries post without the slash; some hand-written clients add one.
        path(f"{_name}/", _view.as_view(schema=None)),
    ]
for _letter, _name in _SHORT.items():
    urlpatterns.append(path(_letter, _VIEWS[_name].as_view(schema=None)))
urlpatterns.append(
    path(
        "projects/<str:write_key>/settings",
        sdk_settings.SegmentSettingsView.as_view(),
        name="tracking-segment-settings",
    )
)

# RudderStack's SDK builds its URLs from the site's `dataPlaneUrl` and `configUrl` (this
# server's root): beacons to /beacon/v1/batch, its settings from /sourceConfig/.
root_urlpatterns: list[URLPattern | URLResolver] = [
    path("beacon/v1/batch", views.BeaconBatchView.as_view(), name="tracking-beacon"),
    path(
        "sourceConfig/",
        sdk_settings.RudderStackSourceConfigView.as_view(),
        name="tracking-rudderstack-config",
    ),
    path("sourceConfig", sdk_settings.RudderStackSourceConfigView.as_view(schema=None)),
]
