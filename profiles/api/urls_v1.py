"""Segment-compatible tracking API under /v1/, with or without a trailing slash."""

from django.urls import URLPattern, URLResolver, path

from profiles.api import segment

_VIEWS = {
    "identify": segment.IdentifyView,
    "track": segment.TrackView,
    "page": segment.PageView,
    "screen": segment.ScreenView,
    "group": segment.GroupView,
    "alias": segment.AliasView,
    "batch": segment.BatchView,
    "import": segment.ImportView,
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
        path(_name, _view.as_view(), name=f"segment-{_name}"),
        # Segment's libraries post without the slash; some hand-written clients add one.
        path(f"{_name}/", _view.as_view(schema=None)),
    ]
for _letter, _name in _SHORT.items():
    urlpatterns.append(path(_letter, _VIEWS[_name].as_view(schema=None)))
