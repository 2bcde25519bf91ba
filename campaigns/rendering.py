"""Template content: Liquid (sandboxed, with limits) over MJML compiled once per version.

A version's MJML is compiled to HTML and its CSS inlined once, when the version is saved:
the Liquid tags are set aside as placeholders while MJML and the inliner run, then put
back. Sending a message then only renders Liquid over that HTML, the plain text, the
subject and the preheader. Templates see only the names in `KNOWN_VARIABLES`; `include`
and `render` are refused (a template never reads another file).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import unescape
from typing import Any

import css_inline
import mjml
from django.utils.html import strip_tags
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from liquid import Environment
from liquid.exceptions import LiquidError
from markupsafe import escape

from campaigns.errors import InvalidTemplate

LANGUAGES = ("en", "fr")
PARTS = ("subject", "preheader", "mjml", "text")
# What a template may name, and the profile fields under `profile`.
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "company",
    "job_title",
    "job_function",
    "city",
    "postcode",
    "country",
    "language",
    "lifecycle_stage",
)
KNOWN_VARIABLES = frozenset(
    {"profile", "traits", "consents", "segments", "personas", "links", "organisation"}
)
_FORBIDDEN = re.compile(r"\{%-?\s*(include|render)\b")
MAX_SOURCE_CHARS = 200_000
_LIQUID = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_PLACEHOLDER = re.compile(r"cdpliquid(\d+)x")


class _Limited(Environment):
    """Liquid with bounds on loops, nesting, assignments and output size."""

    context_depth_limit = 20
    loop_iteration_limit = 2_000
    local_namespace_limit = 20_000
    output_stream_limit = 500_000


HTML = _Limited(autoescape=True)
TEXT = _Limited(autoescape=False)
_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)


@dataclass(frozen=True)
class Rendered:
    subject: str
    preheader: str
    html: str
    text: str


def _line(source: str, index: int) -> int:
    return source[: max(index, 0)].count("\n") + 1


def _refuse(field: str, line: int, message: str) -> InvalidTemplate:
    text = _("line %(line)d: %(message)s") % {"line": line, "message": message}
    return InvalidTemplate(str(text), fields={field: [str(text)]})


def _check_liquid(*, field: str, source: str, environment: Environment) -> None:
    """Parse and statically check one part; raises InvalidTemplate naming the line."""
    if len(source) > MAX_SOURCE_CHARS:
        raise _refuse(field, 1, str(_("the text is too long")))
    if "\x00" in source:
        raise _refuse(field, _line(source, source.index("\x00")), str(_("a NUL character")))
    forbidden = _FORBIDDEN.search(source)
    if forbidden:
        raise _refuse(
            field,
            _line(source, forbidden.start()),
            gettext("'%(value)s' is not allowed") % {"value": forbidden.group(1)},
        )
    try:
        template = environment.from_string(source)
        analysis = template.analyze()
    except LiquidError as error:
        token = getattr(error, "token", None)
        index = getattr(token, "start_index", 0) if token is not None else 0
        raise _refuse(field, _line(source, index), str(error.message or error)) from error
    for name, uses in analysis.globals.items():
        where = _line(source, uses[0].span.index)
        if name not in KNOWN_VARIABLES:
            raise _refuse(field, where, str(_("unknown variable '%(name)s'") % {"name": name}))
        for use in uses:
            parts = use.segments
            if name == "profile" and len(parts) > 1 and parts[1] not in PROFILE_FIELDS:
                raise _refuse(
                    field,
                    _line(source, use.span.index),
                    str(_("unknown profile field '%(name)s'") % {"name": parts[1]}),
                )


def _compile_mjml(*, field: str, source: str) -> str:
    """MJML → HTML with CSS inlined, the Liquid tags kept verbatim."""
    kept: list[str] = []

    def aside(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"cdpliquid{len(kept) - 1}x"

    try:
        html = _INLINER.inline(mjml.mjml2html(_LIQUID.sub(aside, source)))
    except ValueError as error:
        where = re.search(r"position (\d+)", str(error))
        line = _line(source, int(where.group(1))) if where else 1
        raise _refuse(field, line, f"MJML: {error}") from error
    return _PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], html)


def _sample_context() -> dict[str, Any]:
    return {
        "profile": dict.fromkeys(PROFILE_FIELDS, "Sample"),
        "traits": {},
        "consents": ["newsletter"],
        "segments": ["Sample"],
        "personas": ["Sample"],
        "links": {"unsubscribe": "https://example.org/u", "preferences": "https://example.org/p"},
        "organisation": {"name": "Sample", "postal_address": "1 rue Sample, Paris"},
    }


def variants_compile(variants: Any) -> dict[str, dict[str, str]]:
    """Check every language's parts and compile its MJML; raises InvalidTemplate.

    Each part is parsed, checked for unknown names and forbidden tags, and rendered once
    over a sample person, so that limits (a huge loop) are refused at save time too.
    """
    if not isinstance(variants, Mapping) or not variants:
        raise InvalidTemplate(
            str(_("Give at least one language.")),
            fields={"variants": [str(_("Give at least one language: en or fr."))]},
        )
    compiled: dict[str, dict[str, str]] = {}
    for language, parts in variants.items():
        prefix = f"variants.{language}"
        if language not in LANGUAGES:
            raise InvalidTemplate(
                str(_("Unknown language.")), fields={prefix: [str(_("Use en or fr."))]}
            )
        if not isinstance(parts, Mapping) or not all(
            isinstance(parts.get(p, ""), str) for p in PARTS
        ):
            raise InvalidTemplate(
                str(_("Each part is a text.")), fields={prefix: [str(_("Each part is a text."))]}
            )
        for required in ("subject", "mjml"):
            if not str(parts.get(required, "")).strip():
                raise InvalidTemplate(
                    str(_("This part is required.")),
                    fields={f"{prefix}.{required}": [str(_("This part is required."))]},
                )
        for part in PARTS:
            environment = HTML if part == "mjml" else TEXT
            _check_liquid(
                field=f"{prefix}.{part}", source=parts.get(part, ""), environment=environment
            )
        html = _compile_mjml(field=f"{prefix}.mjml", source=parts["mjml"])
        compiled[language] = {
            "subject": parts["subject"],
            "preheader": parts.get("preheader", ""),
            "html": html,
            "text": parts.get("text", ""),
        }
        try:
            render_compiled(
                compiled=compiled[language], context=_sample_context(), mjml=parts["mjml"]
            )
        except InvalidTemplate as error:
            raise InvalidTemplate(
                str(error), fields={f"{prefix}.{k}": v for k, v in (error.fields or {}).items()}
            ) from error
    return compiled


@functools.lru_cache(maxsize=256)
def _parsed(source: str, html: bool) -> Any:
    return (HTML if html else TEXT).from_string(source)


def _text_of(html: str) -> str:
    return re.sub(r"\n\s*\n+", "\n\n", unescape(strip_tags(html))).strip()


@functools.lru_cache(maxsize=256)
def text_source(html: str) -> str | None:
    """The plain text's Liquid source derived once from a compiled HTML (None: per person).

    The Liquid tags are set aside while the markup is stripped, then put back; a tag
    whose pair was inside the markup leaves a source that does not parse: derived per
    person then, as before.
    """
    kept: list[str] = []

    def aside(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"cdpliquid{len(kept) - 1}x"

    source = _PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], _text_of(_LIQUID.sub(aside, html)))
    try:
        _parsed(source, False)
    except LiquidError:
        return None
    return source


_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")
_TAG_NAME = re.compile(r"\{%\s*(\w+)")
# Tags whose effect reaches past their own text, or whitespace control: Liquid, whole.
_WHOLE = re.compile(
    r"\{%-?\s*(assign|capture|increment|decrement|cycle|liquid|raw|comment|ifchanged)\b"
    r"|\{%-|-%\}|\{\{-|-\}\}"
)
_BLOCKS = frozenset({"if", "unless", "for", "case", "tablerow"})
_MISSING = object()


@dataclass(frozen=True)
class _Piece:
    text: str = ""
    path: tuple[str, ...] = ()
    liquid: Any = None  # a parsed template for a block or an output with filters


@functools.lru_cache(maxsize=256)
def _plan(source: str, html: bool) -> tuple[_Piece, ...] | None:
    """A part cut into static text, plain `{{ a.b }}` outputs and self-contained Liquid
    blocks, so a person's render substitutes values instead of running Liquid over the
    whole page; None when the part needs Liquid whole (assignments, whitespace control)."""
    if _WHOLE.search(source):
        return None
    pieces: list[_Piece] = []
    depth, start, opened, at = 0, 0, "", 0
    for match in _LIQUID.finditer(source):
        tag = match.group(0)
        name_match = _TAG_NAME.match(tag)
        name = name_match.group(1) if name_match else ""
        if depth == 0:
            if match.start() > at:
                pieces.append(_Piece(text=source[at : match.start()]))
            if name in _BLOCKS:
                depth, start, opened = 1, match.start(), name
                continue
            simple = _SIMPLE.fullmatch(tag)
            if simple is not None:
                pieces.append(_Piece(path=tuple(simple.group(1).split("."))))
            else:
                pieces.append(_Piece(liquid=_parsed(tag, html)))
            at = match.end()
        elif name == opened:
            depth += 1
        elif name == f"end{opened}":
            depth -= 1
            if depth == 0:
                pieces.append(_Piece(liquid=_parsed(source[start : match.end()], html)))
                at = match.end()
    if depth:
        return None
    if at < len(source):
        pieces.append(_Piece(text=source[at:]))
    return tuple(pieces)


def _value(path: tuple[str, ...], context: Mapping[str, Any]) -> Any:
    value: Any = context
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return _MISSING
        value = value[key]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return _MISSING


def _render(source: str, html: bool, context: Mapping[str, Any]) -> str:
    """Liquid's output for one part: by its plan when it has one, else Liquid whole."""
    plan = _plan(source, html)
    if plan is None:
        return str(_parsed(source, html).render(**context))
    out: list[str] = []
    for piece in plan:
        if piece.liquid is not None:
            try:
                out.append(piece.liquid.render(**context))
            except LiquidError:
                # A piece's error names a place in the piece: Liquid over the whole part
                # raises it again with its line in the part (or renders what Liquid would).
                return str(_parsed(source, html).render(**context))
        elif piece.path:
            value = _value(piece.path, context)
            if value is _MISSING:  # a list, an object, a special property: Liquid's way
                value = _parsed("{{ " + ".".join(piece.path) + " }}", html).render(**context)
            elif html:
                value = str(escape(value))
            out.append(value)
        else:
            out.append(piece.text)
    rendered = "".join(out)
    if "\r" in rendered:  # Liquid's output stream reads line ends universally
        rendered = rendered.replace("\r\n", "\n").replace("\r", "\n")
    if len(rendered) > _Limited.output_stream_limit:
        return str(_parsed(source, html).render(**context))  # Liquid raises its own error
    return rendered


def _author_line(html: str, index: int, mjml: str) -> int:
    """The line of the author's MJML holding the Liquid tag at `index` of the compiled HTML
    (the tags are kept verbatim through MJML); the HTML's own line when it is not found."""
    tag = _LIQUID.search(html, max(index - 3, 0))
    found = mjml.find(tag.group(0)) if tag is not None and mjml else -1
    return _line(mjml, found) if found >= 0 else _line(html, index)


def render_compiled(
    *, compiled: Mapping[str, str], context: Mapping[str, Any], mjml: str = ""
) -> Rendered:
    """One person's subject, preheader, HTML and text from a compiled variant.

    `mjml`: the author's MJML, to name the line of an error in the HTML in their words."""
    derived = None if compiled["text"] else text_source(compiled["html"])
    out: dict[str, str] = {}
    for part in ("subject", "preheader", "html", "text"):
        source = derived if part == "text" and derived is not None else compiled[part]
        try:
            out[part] = _render(source, part == "html", context) if "{" in source else source
        except LiquidError as error:
            token = getattr(error, "token", None)
            index = getattr(token, "start_index", 0) if token is not None else 0
            field = "mjml" if part == "html" else part
            line = _author_line(source, index, mjml) if part == "html" else _line(source, index)
            raise _refuse(field, line, str(error.message or error)) from error
    subject, preheader, html, text = out["subject"], out["preheader"], out["html"], out["text"]
    if not text:
        text = _text_of(html)
    subject = " ".join(subject.split())
    return Rendered(subject=subject, preheader=" ".join(preheader.split()), html=html, text=text)


def choose_language(*, available: Mapping[str, Any], wanted: str, default: str) -> str:
    """The person's language if the version has it, else the template's default."""
    language = (wanted or "").lower()[:2]
    if language in available:
        return language
    return default if default in available else next(iter(available))
