"""The normalisers: garbage never raises, and known inputs give exact answers."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.normalise import (
    Normalised,
    clean_text,
    email_domain_suggestion,
    job_function,
    name_key,
    normalise_birth_date,
    normalise_country,
    normalise_date,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_postcode,
)
from profiles.normalise_data import JOB_FUNCTIONS

GARBAGE = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.binary().map(lambda raw: raw.decode("utf-8", "surrogateescape")),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.text(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.from_regex(r"[^@]{0,20}@[^@]{0,20}", fullmatch=True),
    st.from_regex(r"\+?[0-9 ()-]{0,25}", fullmatch=True),
)
REGIONS = st.one_of(st.sampled_from(["", "FR", "GB", "US", "de", "XX", "1"]), st.text(max_size=4))
COUNTRIES = st.one_of(
    st.sampled_from(["", "GB", "US", "NL", "CA", "PL", "xx"]), st.text(max_size=3)
)


def _well_formed(result: Normalised) -> None:
    assert isinstance(result.value, str)
    assert isinstance(result.error, str)
    # A clean value or a reason, never both; a reason always names its issue.
    assert not (result.value and result.error)
    assert bool(result.error) <= bool(result.code)


# --- garbage never raises -----------------------------------------------------------------


@given(GARBAGE)
def test_email_never_raises_on_garbage(raw: object) -> None:
    result = normalise_email(raw)

    _well_formed(result)
    if result.value:
        assert "@" in result.value
        assert len(result.value) <= 254
        assert result.value == result.value.lower()


@given(GARBAGE, REGIONS)
def test_phone_never_raises_on_garbage(raw: object, region: str) -> None:
    result = normalise_phone(raw, region=region)

    _well_formed(result)
    if result.value:
        assert result.value.startswith("+")
        assert result.value[1:].isdigit()
        assert result.kind


@given(GARBAGE)
def test_names_never_raise_and_keys_are_plain(raw: object) -> None:
    display = normalise_name(raw)
    key = name_key(raw)

    assert isinstance(display, str)
    assert len(display) <= 100
    assert key == key.casefold().strip()
    assert name_key(key) == key  # a key is its own key


@settings(deadline=None)  # the first call builds the index of names (~0.5 s)
@given(GARBAGE)
def test_country_never_raises_on_garbage(raw: object) -> None:
    result = normalise_country(raw)

    _well_formed(result)
    if result.value:
        assert len(result.value) == 2
        assert result.value.isupper()


@given(GARBAGE, COUNTRIES)
def test_postcode_never_raises_on_garbage(raw: object, country: str) -> None:
    result = normalise_postcode(raw, country=country)

    _well_formed(result)
    assert len(result.value) <= 20


@given(GARBAGE)
def test_date_never_raises_on_garbage(raw: object) -> None:
    result = normalise_date(raw)

    _well_formed(result)
    if result.value:
        assert 1900 <= date.fromisoformat(result.value).year <= 2100


@given(GARBAGE)
def test_job_function_never_raises_and_is_one_of_the_functions(raw: object) -> None:
    function = job_function(raw)

    assert function in (*JOB_FUNCTIONS, "")


@given(st.text(max_size=40))
def test_a_domain_suggestion_is_never_the_domain_itself(domain: str) -> None:
    suggestion = email_domain_suggestion(domain)

    assert suggestion != domain.lower() or suggestion == ""


# --- exact answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ada@Example.ORG ", Normalised("ada@example.org")),
        ("ada@bücher.de", Normalised("ada@bücher.de")),
        (
            "ada@gmial.com",
            Normalised("ada@gmial.com", code="email_domain_typo", suggestion="ada@gmail.com"),
        ),
        (
            "bob@hotmial.con",
            Normalised("bob@hotmial.con", code="email_domain_typo", suggestion="bob@hotmail.com"),
        ),
        (
            "eve@example.con",
            Normalised("eve@example.con", code="email_domain_typo", suggestion="eve@example.com"),
        ),
        ("ann@gmx.at", Normalised("ann@gmx.at")),
        ("tom@mail.com", Normalised("tom@mail.com")),
        (
            "not-an-email",
            Normalised(
                "", "invalid email: An email address must have an @-sign.", code="invalid_email"
            ),
        ),
        ("", Normalised("")),
    ],
)
def test_email(raw: str, expected: Normalised) -> None:
    assert normalise_email(raw) == expected


def test_an_invalid_email_message_never_repeats_the_address() -> None:
    result = normalise_email("ada lovelace@exa mple.org")

    assert result.code == "invalid_email"
    assert "lovelace" not in result.error
    assert "mple" not in result.error


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("06 12 34 56 78", "FR", Normalised("+33612345678", kind="mobile")),
        ("+44 20 7946 0958", "", Normalised("+442079460958", kind="fixed_line")),
        ("(201) 555-0123", "US", Normalised("+12015550123", kind="fixed_line_or_mobile")),
        ("0800 123 456", "FR", Normalised("+33800123456", kind="toll_free")),
        ("01 23 45", "FR", Normalised("", "invalid phone: not a valid number", "invalid_phone")),
        (
            "06 12 34 56 78",
            "",
            Normalised("", "invalid phone: Missing or invalid default region.", "invalid_phone"),
        ),
    ],
)
def test_phone(raw: str, region: str, expected: Normalised) -> None:
    assert normalise_phone(raw, region=region) == expected


@pytest.mark.parametrize(
    ("raw", "display", "key"),
    [
        ("  ADA   LOVELACE ", "Ada Lovelace", "ada lovelace"),
        ("josé-maría", "José-María", "jose maria"),
        ("McDonald", "McDonald", "mcdonald"),
        ("GROSS", "Gross", "gross"),
        ("Groß", "Groß", "gross"),
        ("o'neil", "O'Neil", "o neil"),
    ],
)
def test_names_for_display_and_for_matching(raw: str, display: str, key: str) -> None:
    assert (normalise_name(raw), name_key(raw)) == (display, key)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("fr", "FR"),
        ("FRA", "FR"),
        ("France", "FR"),
        ("Allemagne", "DE"),
        ("deutschland", "DE"),
        ("ESPAÑA", "ES"),
        ("Espana", "ES"),
        ("Vereinigte Staaten", "US"),
        ("Royaume-Uni", "GB"),
        ("UK", "GB"),
        ("Côte d’Ivoire", "CI"),
        ("Nederland", "NL"),
        ("日本", "JP"),
        ("Korea, Republic of", "KR"),
    ],
)
def test_country_codes_and_names_in_several_languages(raw: str, code: str) -> None:
    assert normalise_country(raw) == Normalised(code)


@pytest.mark.parametrize("raw", ["Atlantis", "XX", "ZZZ"])
def test_an_unknown_country_is_an_issue(raw: str) -> None:
    assert normalise_country(raw) == Normalised(
        "", "invalid country: expected an ISO 3166-1 code or a country name", "invalid_country"
    )


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("sw1a1aa", "GB", "SW1A 1AA"),
        ("1234ab", "NL", "1234 AB"),
        ("k1a0b1", "CA", "K1A 0B1"),
        ("123456789", "US", "12345-6789"),
        ("02-134", "PL", "02-134"),
        ("75001", "FR", "75001"),
        ("abc 12", "", "ABC 12"),
        ("abc 12", "JP", "ABC 12"),
    ],
)
def test_postcodes_in_their_countrys_form(raw: str, country: str, expected: str) -> None:
    assert normalise_postcode(raw, country=country) == Normalised(expected)


def test_a_postcode_that_does_not_fit_its_country_is_an_issue() -> None:
    assert normalise_postcode("7500", country="FR") == Normalised(
        "", "invalid postcode: not a postcode of FR", "invalid_postcode"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1990-12-10", "1990-12-10"),
        ("10/12/1990", "1990-12-10"),
        ("10.12.1990", "1990-12-10"),
        ("10-12-1990", "1990-12-10"),
        ("19901210", "1990-12-10"),
        ("10 December 1990", "1990-12-10"),
        ("Dec 10, 1990", "1990-12-10"),
        ("10th December 1990", "1990-12-10"),
        ("1990-12-10T08:00:00Z", "1990-12-10"),
        ("12/31/1990", "1990-12-31"),
        ("1.2.85", "1985-02-01"),
        (datetime(1990, 12, 10, 8), "1990-12-10"),
        (date(1990, 12, 10), "1990-12-10"),
    ],
)
def test_dates_in_common_forms(raw: object, expected: str) -> None:
    assert normalise_date(raw) == Normalised(expected)


@pytest.mark.parametrize("raw", ["31/31/1990", "yesterday", "1800-01-01"])
def test_an_unreadable_date_is_an_issue(raw: str) -> None:
    assert normalise_date(raw) == Normalised("", "invalid date", "invalid_date")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10/12/1990", Normalised("1990-12-10")),
        ("2026-06-01", Normalised("2026-06-01")),
        ("2026-06-02", Normalised("", "invalid date: not a plausible birth date", "invalid_date")),
        ("soon", Normalised("", "invalid date", "invalid_date")),
    ],
)
def test_birth_dates_are_plausible(raw: str, expected: Normalised) -> None:
    assert normalise_birth_date(raw, today=date(2026, 6, 1)) == expected


@pytest.mark.parametrize(
    ("title", "function"),
    [
        ("Marketing Director", "marketing"),
        ("CMO", "marketing"),
        ("Head of Sales EMEA", "sales"),
        ("Senior Software Engineer", "it"),
        ("Chief Financial Officer", "finance"),
        ("Directeur financier", "finance"),
        ("Head of People", "hr"),
        ("Ressources Humaines", "hr"),
        ("Supply Chain Manager", "operations"),
        ("CEO & Founder", "management"),
        ("Geschäftsführer", "management"),
        ("Baker", "other"),
        ("", ""),
    ],
)
def test_job_title_to_job_function(title: str, function: str) -> None:
    assert job_function(title) == function


def test_job_function_rules_are_tried_in_order() -> None:
    rules = [("director", "management"), ("marketing", "marketing")]

    assert job_function("Marketing Director", rules) == "management"


def test_clean_text_drops_controls_and_collapses_spaces() -> None:
    assert clean_text(" a\x00b \t\n c ") == "ab c"


# --- the fast paths answer like the libraries ---------------------------------------------


def _library_email(text: str) -> tuple[str, str]:
    """email-validator's own answer: the normalised address, or the error message."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text, check_deliverability=False).normalized, ""
    except EmailNotValidError as exc:
        return "", str(exc)


def _fast_email(text: str) -> tuple[str, str]:
    from email_validator import EmailNotValidError

    from profiles.normalise import _validated_address

    try:
        return _validated_address(text), ""
    except EmailNotValidError as exc:
        return "", str(exc)


ADDRESS_EDGES = [
    "ada@example.org",
    "Ada.Lovelace+tag@Example.ORG",
    "ada@EXAMPLE.org.",
    "ada@example",
    "ada@localhost",
    "ada@a.invalid",
    "ada@xn--bcher-kva.example",
    "ada@bücher.example",
    "ada@BÜCHER.example",
    "ada@ex_ample.org",
    "ada@-example.org",
    "ada@example..org",
    "ada@[192.168.0.1]",
    "ada@",
    "@example.org",
    "ada@@example.org",
    "ada@exa@mple.org",
    "ada@exa mple.org",
    "ada@example.org>",
    "<ada@example.org>",
    "Ada <ada@example.org>",
    '"ada lovelace"@example.org',
    "ada.@example.org",
    ".ada@example.org",
    "ada..l@example.org",
    "adé@example.org",
    "ada@\u0338example.org",
    "ada@e\u0301xample.org",
    "ada@example.org\u200b",
    "a" * 64 + "@example.org",
    "a" * 65 + "@example.org",
    "a" * 240 + "@example.org",
    "a" * 241 + "@example.org",
    "a" * 230 + "@bücher.example",
    "a" * 236 + "@bücher.example",
    "ada@" + "a" * 63 + ".org",
    "ada@" + "a" * 64 + ".org",
    "ada@" + ".".join(["abcdefghi"] * 26) + ".org",
    "info@example.org",
    "ada@example.org ",
    "ada@ex\u00e4mple.org",
    "ada@xn--ls8h.la",
    "ada@münchen.de",
]


@pytest.mark.parametrize("text", ADDRESS_EDGES)
def test_the_email_fast_path_answers_like_email_validator_on_edge_cases(text: str) -> None:
    assert _fast_email(text) == _library_email(text)
    assert _fast_email(text) == _library_email(text)  # the domain's answer from the cache


@settings(max_examples=500)
@given(
    st.emails()
    | st.from_regex(r"[A-Za-z0-9.+_'-]{0,70}@[A-Za-zé0-9.\-_\[\]@ ]{0,30}", fullmatch=True)
    | st.text(max_size=40)
)
def test_the_email_fast_path_answers_like_email_validator(text: str) -> None:
    assert _fast_email(text) == _library_email(text)


def _phone_samples() -> list[str]:
    """Example numbers of every region and line type, and variants off by a digit."""
    import phonenumbers

    samples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (
            phonenumbers.PhoneNumberType.FIXED_LINE,
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.TOLL_FREE,
            phonenumbers.PhoneNumberType.VOIP,
        ):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            samples += [e164, e164[:-1], e164 + "7", e164[:4] + "9" + e164[5:]]
    return samples


def test_phone_validity_and_line_type_match_phonenumbers_for_every_region() -> None:
    import phonenumbers

    from profiles.normalise import _LINE_TYPES, _normalise_phone

    samples = _phone_samples()
    assert len(samples) > 1000
    for text in samples:
        number = phonenumbers.parse(text)
        valid = phonenumbers.is_valid_number(number)
        result = _normalise_phone(text, "")
        expected_kind = _LINE_TYPES.get(phonenumbers.number_type(number), "unknown")
        assert (result.value != "", result.kind) == (valid, expected_kind if valid else ""), text


def _library_parse(text: str) -> object:
    import phonenumbers

    try:
        return phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException as exc:
        return f"refused: {exc}"


def test_the_e164_fast_path_answers_like_phonenumbers_for_every_region() -> None:
    import phonenumbers

    from profiles.normalise import parse_e164

    samples = _phone_samples()
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            samples.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    answered = 0
    for text in samples:
        fast = parse_e164(text)
        if fast is not None:
            answered += 1
            assert fast == _library_parse(text), text
    # It answers for most numbers (else it would only add work): the rest are parsed in full.
    assert answered > 0.75 * len(samples)


_CALLING_CODES = sorted(__import__("phonenumbers").COUNTRY_CODE_TO_REGION_CODE)


@settings(max_examples=3000)
@given(st.sampled_from(_CALLING_CODES), st.text("0123456789", min_size=1, max_size=14))
def test_the_e164_fast_path_answers_like_phonenumbers(code: int, digits: str) -> None:
    from profiles.normalise import parse_e164

    text = f"+{code}{digits}"
    fast = parse_e164(text)
    if fast is not None:
        assert fast == _library_parse(text)


@pytest.mark.parametrize(
    "text", ["+33612345678", "+14155550123", "+447700900123", "+4915112345678", "+819012345678"]
)
def test_the_e164_fast_path_takes_common_numbers(text: str) -> None:
    from profiles.normalise import parse_e164

    assert parse_e164(text) == _library_parse(text)
