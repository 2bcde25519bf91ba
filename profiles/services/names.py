"""Do two records name the same person? Pure rules shared by ingestion and the duplicate scan.

A switchboard number, a household landline or a shared mailbox reaches several people: an
identifier alone is proof of one person only when the names do not say otherwise. Names
are compared folded (lower case, no accents), as given or swapped (a first name in the
last-name column), allowing a typo, an initial or one part of a compound name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz.distance import OSA, JaroWinkler

Names = tuple[str, str]  # first name, last name (as stored; folded here)
_WORD = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=65536)
def _fold(text: str) -> tuple[str, ...]:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return tuple(_WORD.findall(ascii_text))


# Usual short forms of first names (folded), French and English: "Bob" is Robert.
_SHORT_FORMS: dict[str, frozenset[str]] = {
    short: frozenset(full.split())
    for short, full in {
        "alex": "alexandre alexandra alexander alexis",
        "bob": "robert",
        "rob": "robert",
        "bobby": "robert",
        "bill": "william",
        "will": "william",
        "jim": "james",
        "jimmy": "james",
        "mike": "michael",
        "tom": "thomas",
        "tony": "anthony antoine",
        "dick": "richard",
        "rick": "richard",
        "ted": "edward",
        "ed": "edward edouard",
        "kate": "katherine catherine kathryn",
        "katie": "katherine catherine",
        "cathy": "catherine",
        "liz": "elizabeth elisabeth",
        "beth": "elizabeth elisabeth",
        "peggy": "margaret",
        "meg": "margaret",
        "sue": "susan suzanne",
        "chris": "christopher christophe christian christine",
        "nick": "nicholas",
        "nico": "nicolas",
        "max": "maxime maximilien",
        "fred": "frederic frederique",
        "seb": "sebastien",
        "steph": "stephane stephanie",
        "manu": "emmanuel emmanuelle",
        "isa": "isabelle",
        "val": "valerie valentin",
        "domi": "dominique",
        "flo": "florence florian",
        "caro": "caroline",
        "greg": "gregory gregoire",
        "ben": "benjamin benoit",
        "matt": "matthew mathieu matthieu",
        "dan": "daniel",
        "sam": "samuel samantha",
        "jo": "joseph josephine jocelyne",
        "jojo": "joseph josephine",
        "pat": "patrick patricia",
        "gigi": "ghislaine",
        "mimi": "michele",
        "babette": "elisabeth",
        "lili": "liliane",
        "titi": "thierry",
    }.items()
}


def _short_form(x: str, y: str) -> bool:
    return y in _SHORT_FORMS.get(x, ()) or x in _SHORT_FORMS.get(y, ())


def _same_name(a: tuple[str, ...], b: tuple[str, ...]) -> bool | None:
    """One name against another: None if either is missing."""
    if not a or not b:
        return None
    if a == b or set(a) & set(b):
        return True  # equal, or one part of a compound name (Jean-Pierre, Jean)
    x, y = "".join(a), "".join(b)
    if _short_form(x, y):
        return True  # a usual short form: Bob and Robert
    if len(x) == 1 or len(y) == 1:
        return x[0] == y[0]  # an initial
    limit = 1 if min(len(x), len(y)) < 7 else 2
    # OSA: a transposed pair of letters (Cliare, Claire) is one typo.
    return OSA.distance(x, y) <= limit and JaroWinkler.normalized_similarity(x, y) >= 0.85


def names_compare(a: Names, b: Names) -> bool | None:
    """True: the names agree (as given or swapped); False: clearly different people;
    None: too little to tell.

    Only first names tell people apart: a last name changes with a marriage (a woman's
    usage name), a first name does not.
    """
    af, al = _fold(a[0]), _fold(a[1])
    bf, bl = _fold(b[0]), _fold(b[1])
    first = _same_name(af, bf)
    if first:
        return True
    crossed = (_same_name(af, bl), _same_name(al, bf))
    if True in crossed and False not in crossed:
        return True  # swapped first and last names
    if first is False:
        return False
    return True if _same_name(al, bl) else None
