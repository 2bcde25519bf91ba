"""Find text a person reads that is not marked for translation (docs/i18n.md).

Python (an AST walk over every app module, migrations and management commands aside):
a bare string literal or f-string given
- as `verbose_name=`, `verbose_name_plural=`, `help_text=`, `label=`, `description=`,
  `empty_label=`, `title=`, `message=`, `error_messages=`'s values,
- as the message of `messages.success/info/warning/error/add_message`, `message_user`,
  `ValidationError` (Django's, DRF's, forms') and of any `raise SomethingError("...")`
  other than Python's own exceptions (so every `DomainError` subclass),
- as the label of a `TextChoices`/`IntegerChoices` member,
- to `short_description =`, `verbose_name =` (apps, models), `title =` (list filters),
  `empty_value_display =`, a fieldset's title, a `help_texts`/`labels` dictionary's values,
  or a template context's "title", "warning", "button", "label", "hint" or "help",
- and every model names itself and its fields (`verbose_name`), every form field its label.
A `gettext()` evaluated at import time (module or class level, decorators) is flagged:
it would freeze one language. Strings inside `_()`, `gettext()`, `gettext_lazy()`,
`ngettext()`, `pgettext()` and `format_html()`'s arguments built from them are marked;
the line comment `# i18n: code` exempts a line whose text is a code, not words for people.

Templates (every .html and .txt under an app's templates/): visible text outside
`{% translate %}`, `{% blocktranslate %}` and `{% comment %}`, after dropping tags,
`<script>` and `<style>` elements, entities and template variables; plus the words in
`title`, `placeholder`, `alt` and `aria-label` attributes and on buttons.

Not covered: strings built elsewhere and passed through variables, JavaScript (its text
goes through `gettext()` of the admin's catalogue), and management commands' output,
which is for operators and stays English.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterator
from pathlib import Path

from django.template.base import Lexer, TokenType

ROOT = Path(__file__).resolve().parent.parent.parent
APPS = ("cdp_site", "core", "consent", "profiles", "collection", "segments", "campaigns", "reports")

MARKERS = {
    "_",
    "gettext",
    "gettext_lazy",
    "ngettext",
    "ngettext_lazy",
    "pgettext",
    "pgettext_lazy",
    "npgettext",
    "npgettext_lazy",
}
# Translating at import time freezes the organisation's language: lazy there.
EAGER = {"gettext", "ngettext", "pgettext", "npgettext"}
KEYWORDS = {
    "verbose_name",
    "verbose_name_plural",
    "help_text",
    "label",
    "description",
    "empty_label",
    "title",
    "message",
}
MESSAGE_CALLS = {"success", "info", "warning", "error", "debug", "add_message", "message_user"}
# Python's own exceptions carry messages for developers and logs, not for people.
PYTHON_ERRORS = set(dir(builtins)) | {
    "ImproperlyConfigured",
    "ImproperlyConfiguredEnv",
    "CommandError",
    "NotImplementedError",
    "SuspiciousOperation",
    "FieldError",
    "TemplateSyntaxError",
    "NotSupportedError",
    "Http404",
}
PYTHON_ERRORS -= {"ValidationError"}
# The API's documentation (OpenAPI descriptions, serializer and filter help) is for
# developers and stays English; the API's error messages are for people.
API_DOCS = {"help_text", "description", "label"}
ATTRIBUTES = {"short_description", "empty_value_display", "verbose_name", "verbose_name_plural"}
# Keys of the dictionaries views hand to templates (and admin pages to their context).
CONTEXT_KEYS = {"title", "subtitle", "warning", "button", "note_label", "label", "hint", "help"}
EXEMPT = "# i18n: code"


def _is_text(node: ast.AST) -> bool:
    """A literal with words in it (a code like "email" or "-" is not text for people)."""
    # A message may start with a lowercase word ("must be a number"): two words are text.
    if isinstance(node, ast.JoinedStr):
        return any(_is_text(value) for value in node.values if isinstance(value, ast.Constant))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(re.search(r"[A-Za-z]{2,}", node.value)) and (
            " " in node.value.strip() or node.value[:1].isupper()
        )
    if isinstance(node, ast.BinOp):
        return _is_text(node.left)
    return False


def _is_word(node: ast.AST) -> bool:
    """A literal with a word in it, even one lowercase word (a column heading)."""
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(re.search(r"[A-Za-z]{2,}", node.value))
    )


def _relative(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else Path(path.name)


def _is_field(attr: str) -> bool:
    return attr.endswith("Field") or attr in {"ForeignKey", "OneToOneField", "ManyToManyField"}


def _has_verbose_name(call: ast.Call) -> bool:
    """`verbose_name=`, or a field's first positional argument (not a relation's)."""
    if any(keyword.arg == "verbose_name" for keyword in call.keywords):
        return True
    relation = _name(call.func) in {"ForeignKey", "OneToOneField", "ManyToManyField"}
    return bool(call.args) and not relation and isinstance(call.args[0], ast.Call)


def _hidden(call: ast.Call) -> bool:
    return any(
        keyword.arg == "widget" and "Hidden" in ast.unparse(keyword.value)
        for keyword in call.keywords
    )


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


class _Scan(ast.NodeVisitor):
    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.found: list[str] = []
        self.nodes: list[tuple[ast.AST, bool]] = []  # (unmarked node, inside a function)
        self.class_bases: list[set[str]] = []
        self.depth = 0  # functions we are in
        self.api = "api" in _relative(path).parts
        self.models = path.name == "models.py" or "models" in _relative(path).parts

    def _flag(self, node: ast.AST, why: str) -> None:
        line = getattr(node, "lineno", 0)
        if EXEMPT in self.lines[line - 1]:
            return
        text = node.value if isinstance(node, ast.Constant) else ast.unparse(node)
        relative = _relative(self.path)
        self.found.append(f"{relative}:{line}: {why}: {str(text)[:60]!r}")
        self.nodes.append((node, self.depth > 0))

    def _check(self, node: ast.AST | None, why: str) -> None:
        if node is None:
            return
        if isinstance(node, ast.Dict):
            for value in node.values:
                self._check(value, why)
            return
        if isinstance(node, ast.List | ast.Tuple):
            for element in node.elts:
                self._check(element, why)
            return
        if _is_text(node):
            self._flag(node, why)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        # Decorators and defaults run at import time, the body when called.
        for outer in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if outer is not None:
                self.visit(outer)
        self.depth += 1
        for statement in node.body:
            self.visit(statement)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.class_bases.append({_name(base) for base in node.bases})
        if self.models and self.depth == 0:
            self._check_model(node)
        for statement in node.body:
            call = statement.value if isinstance(statement, ast.Assign) else None
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and _name(call.func.value) == "forms"
                and call.func.attr.endswith("Field")
                and not any(keyword.arg == "label" for keyword in call.keywords)
                and not _hidden(call)
            ):
                self._flag(call, "form field without label")
        self.generic_visit(node)
        self.class_bases.pop()

    def _check_model(self, node: ast.ClassDef) -> None:
        """A model names itself and each of its fields in words that can be translated."""
        fields = [
            statement.value
            for statement in node.body
            if isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Call)
            and isinstance(statement.value.func, ast.Attribute)
            and _name(statement.value.func.value) == "models"
            and _is_field(statement.value.func.attr)
        ]
        if not fields:
            return
        for call in fields:
            if not _has_verbose_name(call):
                self._flag(call, "field without verbose_name")
        meta = next(
            (s for s in node.body if isinstance(s, ast.ClassDef) and s.name == "Meta"), None
        )
        names = (
            {_name(t) for s in meta.body if isinstance(s, ast.Assign) for t in s.targets}
            if meta
            else set()
        )
        if not {"verbose_name", "verbose_name_plural"} <= names:
            self._flag(meta or node, f"model {node.name} without verbose_name(_plural)")

    def visit_Call(self, node: ast.Call) -> None:
        name = _name(node.func)
        if name in EAGER and self.depth == 0:
            self._flag(node, "gettext at import time (gettext_lazy there)")
        if name in MARKERS:
            return  # what is inside is marked
        for keyword in node.keywords:
            if self.api and keyword.arg in API_DOCS:
                continue
            if keyword.arg in KEYWORDS or keyword.arg in {"error_messages", "labels"}:
                self._check(keyword.value, f"{keyword.arg}=")
        if name == "display":  # an admin column's heading: one word is text there too
            for keyword in node.keywords:
                if keyword.arg == "description" and _is_word(keyword.value):
                    self._flag(keyword.value, "admin.display(description=)")
        if name in MESSAGE_CALLS and isinstance(node.func, ast.Attribute):
            owner = _name(node.func.value)
            if owner in {"messages", "self", "admin", "modeladmin", "model_admin"}:
                index = {"add_message": 2, "message_user": 1}.get(name, 1)
                if owner == "self" and name != "message_user":
                    index = -1
                if 0 <= index < len(node.args):
                    self._check(node.args[index], f"{owner}.{name}")
        if name == "ValidationError" and node.args:
            self._check(node.args[0], "ValidationError")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value in CONTEXT_KEYS and not self.api:
                self._check(value, f"{key.value!r}:")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc
        if isinstance(exc, ast.Call) and exc.args:
            name = _name(exc.func)
            if name[:1].isupper() and name not in PYTHON_ERRORS:
                for argument in exc.args:
                    self._check(argument, f"raise {name}")
                for keyword in exc.keywords:
                    if keyword.arg == "fields":
                        self._check(keyword.value, f"raise {name}(fields=)")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            attr = _name(target)
            if attr in ATTRIBUTES:
                self._check(node.value, attr)
            if (
                attr == "title"
                and self.class_bases
                and any("Filter" in base for base in self.class_bases[-1])
            ):
                self._check(node.value, "list filter title")
            if attr in {"fieldsets", "add_fieldsets"} and isinstance(
                node.value, ast.List | ast.Tuple
            ):
                for fieldset in node.value.elts:
                    if isinstance(fieldset, ast.Tuple) and fieldset.elts:
                        self._check(fieldset.elts[0], "fieldset title")
            if attr in {"help_texts", "labels"}:
                self._check(node.value, attr)
            if self.class_bases and self.class_bases[-1] & {"TextChoices", "IntegerChoices"}:
                value = node.value
                if isinstance(value, ast.Tuple) and len(value.elts) >= 2:
                    self._check(value.elts[-1], "choice label")
                elif isinstance(value, ast.Constant) and _name(target).isupper():
                    self._flag(value, "choice without label")
        self.generic_visit(node)


def python_files() -> Iterator[Path]:
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if path.name.endswith((".html.py", ".txt.py")):
                continue  # makemessages' temporary copy of a template, while it runs
            parts = set(path.relative_to(ROOT).parts)
            if parts & {"migrations", "management", "generate"} or path.name in {
                "periodic.py",  # django-celery-beat rows, for operators
                "demo.py",  # demo data, stored as data
            }:
                continue
            yield path


def python_unmarked(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    scan = _Scan(path, source.splitlines())
    scan.visit(ast.parse(source))
    return scan.found


def template_files() -> Iterator[Path]:
    for app in APPS:
        for path in sorted((ROOT / app / "templates").rglob("*")):
            if path.suffix in {".html", ".txt"}:
                yield path


# Blocks whose text is markup, not words: the admin's <body class="...">.
_OPEN = {"blocktranslate", "blocktrans", "comment"}
_CLOSE = {"endblocktranslate", "endblocktrans", "endcomment"}
_ATTRIBUTE = re.compile(r"""\b(?:title|placeholder|alt|aria-label)\s*=\s*"([^"]*)\"""")
_BUTTON = re.compile(r"""<input[^>]*type="(?:submit|button)"[^>]*value="([^"]*)\"""")
_WORD = re.compile(r"[A-Za-zÀ-ÿ]{2,}")


def template_unmarked(path: Path) -> list[str]:
    """Visible words outside translation tags, one finding per line of the template."""
    source = path.read_text(encoding="utf-8")
    text: list[str] = []
    depth = 0
    blocks: list[str] = []
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            words = token.contents.split() or [""]
            if words[0] in _OPEN:
                depth += 1
            elif words[0] in _CLOSE:
                depth -= 1
            elif words[0] == "block":
                blocks.append(words[1])
            elif words[0] == "endblock":
                blocks.pop()
            text.append("\x00")
        elif token.token_type == TokenType.TEXT and depth == 0 and "bodyclass" not in blocks:
            text.append(token.contents)
        else:
            # Variables and comments; a line break keeps line numbers right.
            text.append("\x00" + "\n" * token.contents.count("\n"))
    joined = "".join(text)
    if path.suffix == ".html":
        joined = re.sub(
            r"<(script|style)\b.*?</\1>",
            lambda m: "\n" * m.group(0).count("\n"),
            joined,
            flags=re.S | re.I,
        )
    found = []
    for number, line in enumerate(joined.splitlines(), start=1):
        attributes = " ".join(_ATTRIBUTE.findall(line) + _BUTTON.findall(line))
        visible = re.sub(r"<[^>]*>", " ", line) if path.suffix == ".html" else line
        visible = re.sub(r"&#?\w+;", " ", visible)
        # A tag split by a template tag leaves attribute text behind: only words count.
        visible = re.sub(r"[\w-]+=\"[^\"]*\"", " ", visible)
        if path.suffix == ".html":
            visible = visible.split("<", 1)[0] if "<" in visible and ">" not in visible else visible
        words = _WORD.findall(visible) + _WORD.findall(attributes)
        if words:
            relative = _relative(path)
            found.append(f"{relative}:{number}: {' '.join(words)[:60]!r}")
    return found
