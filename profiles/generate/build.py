"""Deterministic synthetic people: profiles, identities, events and consent decisions.

Rows come out in chunks of plain tuples (times as Unix seconds, JSON as text) that the
writers turn into COPY text (PostgreSQL) or model instances (SQLite). Draws are made with
numpy, a column at a time (a million people in seconds, not minutes), from one generator
seeded once, in a fixed order and with a fixed chunk size: the same seed gives the same
people whatever the database.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from profiles.generate import vocab

CHUNK_PROFILES = 20_000  # fixed: the sequence of draws, hence the data, depends on it
DAY = 86_400
HISTORY_DAYS = 730  # people were first seen over the last two years
EVENT_DAYS = 365  # events happened over the last year
MERGED_SHARE = 0.01  # tombstones of anonymous visitors stitched to a known person
RESTRICTED_SHARE = 0.003  # people who asked to restrict processing
DORMANT_SHARE = 0.2  # known people with no event at all (imported, never active)
PARETO_SHAPE = 1.2  # events per person follow a power law…
PARETO_CAP = 300.0  # …cut where one person would dominate a small run
MAX_SKEW_SECONDS = 90  # received_at - occurred_at
FREE_MAIL_SHARE = 0.3
ADDRESS_SHARE = 0.6
BIRTH_DATE_SHARE = 0.35
COMPANY_TRAITS_SHARE = 0.8

# (profile_id, status, merged_into_id, lifecycle_stage, email, first_name, last_name,
#  company, job_title, job_function, address_line, postcode, city, country,
#  date_of_birth (proleptic ordinal) | None, language, timezone, traits (JSON text),
#  first_seen, last_seen, quality_score | None)
ProfileRow = tuple[object, ...]
# (profile_id, kind, value)
IdentityRow = tuple[int, str, str]
# (profile_id, purpose code, status, method, with wording, proof index, recorded_at,
#  expires_at | None)
ConsentRow = tuple[int, str, str, str, bool, int, int, int | None]


@dataclass
class Chunk:
    """The rows of a few thousand consecutive profiles."""

    profiles: list[ProfileRow] = field(default_factory=list)
    # The profiles' first and last seen times again, as arrays for vectorised formatting.
    first_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    last_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    identities: list[IdentityRow] = field(default_factory=list)
    # Events as columns: profile_id, variant (index into Population.variants), number
    # (within the profile), occurred_at, received_at.
    events: dict[str, np.ndarray] = field(default_factory=dict)
    consents: list[ConsentRow] = field(default_factory=list)


def _ascii(text: str) -> str:
    """ "Lefèvre" -> "lefevre", "van den Berg" -> "vandenberg": the local part of an email."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def _shares(weights: Sequence[float]) -> np.ndarray:
    array = np.asarray(weights, dtype=float)
    return array / array.sum()


class _Table:
    """Lists of values per key, flattened: pick the i-th value of key k, vectorised."""

    def __init__(self, lists: Sequence[Sequence[object]]) -> None:
        self.values = [value for values in lists for value in values]
        self.counts = np.array([len(values) for values in lists])
        self.offsets = np.concatenate(([0], np.cumsum(self.counts)[:-1]))

    def pick(self, keys: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """For each key, a value index chosen uniformly by a draw in [0, 1)."""
        return self.offsets[keys] + (draws * self.counts[keys]).astype(np.int64)


LANGUAGES = list(vocab.NAMES)
_CITIES = _Table([cities for _, _, cities, _ in vocab.COUNTRIES])
_COUNTRY_LANGUAGES = _Table(
    [[LANGUAGES.index(code) for code in codes] for _, _, _, codes in vocab.COUNTRIES]
)
_FIRST_NAMES = _Table([vocab.NAMES[code][0] for code in LANGUAGES])
_LAST_NAMES = _Table([vocab.NAMES[code][1] for code in LANGUAGES])
_STREETS = _Table([vocab.STREETS[code] for code in LANGUAGES])
_ASCII = {name: _ascii(name) for name in _FIRST_NAMES.values + _LAST_NAMES.values}
_DOMAINS = [f"{_ascii(company)}.example" for company in vocab.COMPANIES]
_STAGES = [stage for stage, _, _ in vocab.LIFECYCLE]
_ANONYMOUS = _STAGES.index("anonymous")
_EMPLOYEES = {"1-10": (1, 10), "11-50": (11, 40), "51-200": (51, 150), "201-1000": (201, 800),
              "1000+": (1001, 20000)}  # fmt: skip
_OLDEST_BIRTH = date(1958, 1, 1).toordinal()
_BIRTH_SPAN = date(2006, 1, 1).toordinal() - _OLDEST_BIRTH


class Population:
    """People with `events` events in total, first seen up to two years before `now`."""

    def __init__(self, *, seed: int, profile_ids: Sequence[int], events: int, now: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.ids = np.asarray(profile_ids, dtype=np.int64)
        self.now = now
        known, known_weights = vocab.event_variants(known=True)
        anonymous, anonymous_weights = vocab.event_variants(known=False)
        # What an event row's variant index points into.
        self.variants = known + anonymous
        self._known_shares = _shares(known_weights)
        self._anonymous_shares = _shares(anonymous_weights)
        self._plan(events)

    def _plan(self, events: int) -> None:
        """The whole population at once: status, stage, and exactly `events` events."""
        rng, count = self.rng, len(self.ids)
        self.stages = rng.choice(
            len(_STAGES), size=count, p=_shares([w for _, w, _ in vocab.LIFECYCLE])
        )
        draw = rng.random(count)
        self.merged = draw < MERGED_SHARE
        self.merged[:1] = False  # a tombstone points at someone before it
        self.restricted = ~self.merged & (draw < MERGED_SHARE + RESTRICTED_SHARE)
        self.stages[self.merged] = _ANONYMOUS
        dormant = rng.random(count) < DORMANT_SHARE
        dormant[:1] = False  # someone can always take the events
        activity = np.array([factor for _, _, factor in vocab.LIFECYCLE])[self.stages]
        weights = np.minimum(rng.pareto(PARETO_SHAPE, count) + 1, PARETO_CAP) * activity
        weights[self.merged | dormant] = 0.0
        if events and count:
            self.event_counts = rng.multinomial(events, weights / weights.sum())
        else:
            self.event_counts = np.zeros(count, dtype=np.int64)

    def chunks(self) -> Iterator[Chunk]:
        for start in range(0, len(self.ids), CHUNK_PROFILES):
            yield self._chunk(start, min(start + CHUNK_PROFILES, len(self.ids)))

    def _chunk(self, start: int, end: int) -> Chunk:
        rng, now, size = self.rng, self.now, end - start
        chunk = Chunk()
        ids = self.ids[start:end]
        stages = self.stages[start:end]
        first_seen = now - DAY - (rng.random(size) * (HISTORY_DAYS - 1) * DAY).astype(np.int64)
        country = rng.choice(
            len(vocab.COUNTRIES), size=size, p=_shares([w for _, w, _, _ in vocab.COUNTRIES])
        )
        city = _CITIES.pick(country, rng.random(size))
        language = np.array(_COUNTRY_LANGUAGES.values)[
            _COUNTRY_LANGUAGES.pick(country, rng.random(size))
        ]
        last_seen = self._events(chunk, ids, stages, self.event_counts[start:end], first_seen)
        columns = {
            "first": _FIRST_NAMES.pick(language, rng.random(size)),
            "last": _LAST_NAMES.pick(language, rng.random(size)),
            "company": rng.integers(0, len(vocab.COMPANIES), size),
            "free_mail": np.where(
                rng.random(size) < FREE_MAIL_SHARE,
                rng.integers(0, len(vocab.FREE_MAIL_DOMAINS), size),
                -1,
            ),
            "title": rng.choice(
                len(vocab.JOB_TITLES), size=size, p=_shares([w for _, _, w in vocab.JOB_TITLES])
            ),
            "street": np.where(
                rng.random(size) < ADDRESS_SHARE, _STREETS.pick(language, rng.random(size)), -1
            ),
            "number": rng.integers(1, 121, size),
            "born": np.where(
                rng.random(size) < BIRTH_DATE_SHARE,
                _OLDEST_BIRTH + rng.integers(0, _BIRTH_SPAN, size),
                -1,
            ),
            "quality": np.where(
                stages == _ANONYMOUS,
                5 + rng.integers(0, 25, size),
                40 + (60 * rng.random(size) ** 0.7).astype(np.int64),
            ),
            "survivor": self.ids[(rng.random(size) * np.arange(start, end)).astype(np.int64)],
            "traits": self._traits(stages, size),
        }
        last_seen = np.where(self.merged[start:end], first_seen, last_seen)
        chunk.first_seen, chunk.last_seen = first_seen, last_seen
        merged = self.merged[start:end].tolist()
        restricted = self.restricted[start:end].tolist()
        self._profiles(
            chunk,
            ids,
            stages,
            merged,
            restricted,
            country,
            city,
            language,
            first_seen,
            last_seen,
            columns,
        )
        known = ~self.merged[start:end] & (stages != _ANONYMOUS)
        for code, (share, stories) in vocab.CONSENT.items():
            self._consent(chunk, code, share, stories, ids, known, first_seen)
        return chunk

    def _events(
        self,
        chunk: Chunk,
        ids: np.ndarray,
        stages: np.ndarray,
        counts: np.ndarray,
        first_seen: np.ndarray,
    ) -> np.ndarray:
        """Append the chunk's events, spread over each person's time with us; last seen."""
        rng, now, total = self.rng, self.now, int(counts.sum())
        low = np.maximum(first_seen, now - EVENT_DAYS * DAY)
        span = now - MAX_SKEW_SECONDS - low
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        occurred = np.repeat(low, counts) + (rng.random(total) * np.repeat(span, counts)).astype(
            np.int64
        )
        received = occurred + rng.integers(0, MAX_SKEW_SECONDS, total)
        known = len(self._known_shares)
        variant = np.where(
            np.repeat(stages == _ANONYMOUS, counts),
            known + rng.choice(len(self._anonymous_shares), size=total, p=self._anonymous_shares),
            rng.choice(known, size=total, p=self._known_shares),
        )
        number = np.arange(total) - np.repeat(starts, counts)
        chunk.events = {
            "profile_id": np.repeat(ids, counts),
            "variant": variant,
            "number": number,
            "occurred_at": occurred,
            "received_at": received,
        }
        last_seen = first_seen + (rng.random(len(ids)) * (now - first_seen)).astype(np.int64)
        active = counts > 0
        if total:
            last_seen[active] = np.maximum.reduceat(occurred, starts[active])
        return last_seen

    def _traits(self, stages: np.ndarray, size: int) -> list[str]:
        rng = self.rng
        has_company = rng.random(size) < COMPANY_TRAITS_SHARE
        company_size = rng.choice(
            len(vocab.COMPANY_SIZES), size=size, p=_shares([w for _, w in vocab.COMPANY_SIZES])
        )
        spread = rng.random(size)
        industry = rng.choice(
            len(vocab.INDUSTRIES), size=size, p=_shares([w for _, w in vocab.INDUSTRIES])
        )
        paying = np.isin(stages, [_STAGES.index("customer"), _STAGES.index("churned")]) | (
            (stages == _STAGES.index("prospect")) & (rng.random(size) < 0.2)
        )
        plan = rng.choice(len(vocab.PLANS), size=size, p=_shares([w for _, w in vocab.PLANS]))
        traits = []
        for has, size_index, where, industry_index, pays, plan_index in zip(
            has_company.tolist(), company_size.tolist(), spread.tolist(), industry.tolist(),
            paying.tolist(), plan.tolist(), strict=True,
        ):  # fmt: skip
            parts = []
            if has:
                label = vocab.COMPANY_SIZES[size_index][0]
                low, width = _EMPLOYEES[label]
                parts.append(f'"company_size": "{label}", "employees": {low + int(where * width)}')
                parts.append(f'"industry": "{vocab.INDUSTRIES[industry_index][0]}"')
            if pays:
                parts.append(f'"plan": "{vocab.PLANS[plan_index][0]}"')
            traits.append("{" + ", ".join(parts) + "}")
        return traits

    def _profiles(
        self,
        chunk: Chunk,
        ids: np.ndarray,
        stages: np.ndarray,
        merged: list[bool],
        restricted: list[bool],
        country: np.ndarray,
        city: np.ndarray,
        language: np.ndarray,
        first_seen: np.ndarray,
        last_seen: np.ndarray,
        columns: dict[str, object],
    ) -> None:
        firsts, lasts, streets = _FIRST_NAMES.values, _LAST_NAMES.values, _STREETS.values
        rows, identities = chunk.profiles, chunk.identities
        for (
            pid, stage, is_merged, is_restricted, country_index, city_index, language_index,
            seen_first, seen_last, first, last, company, free_mail, title, street, number,
            born, quality, survivor, traits,
        ) in zip(
            ids.tolist(), stages.tolist(), merged, restricted, country.tolist(), city.tolist(),
            language.tolist(), first_seen.tolist(), last_seen.tolist(),
            *(columns[name].tolist() for name in (  # type: ignore[attr-defined]  # numpy arrays have tolist
                "first", "last", "company", "free_mail", "title", "street", "number", "born",
                "quality", "survivor",
            )),
            columns["traits"],
            strict=True,
        ):  # fmt: skip
            country_code = vocab.COUNTRIES[country_index][0]
            city_name, postcode, tz = _CITIES.values[city_index]
            lang = LANGUAGES[language_index]
            stage_name = _STAGES[stage]
            if is_merged:
                rows.append(
                    (pid, "merged", survivor, stage_name, "", "", "", "", "", "", "", "", "",
                     country_code, None, lang, tz, "{}", seen_first, seen_first, None)
                )  # fmt: skip
                continue
            status = "restricted" if is_restricted else "active"
            if stage == _ANONYMOUS:
                identities.append((pid, "anonymous_id", f"gen-anon-{pid}"))
                rows.append(
                    (pid, status, None, stage_name, "", "", "", "", "", "", "", "", city_name,
                     country_code, None, lang, tz, "{}", seen_first, seen_last, quality)
                )  # fmt: skip
                continue
            first_name, last_name = firsts[first], lasts[last]
            domain = vocab.FREE_MAIL_DOMAINS[free_mail] if free_mail >= 0 else _DOMAINS[company]
            email = f"{_ASCII[first_name]}.{_ASCII[last_name]}.{pid}@{domain}"
            job_title, job_function, _ = vocab.JOB_TITLES[title]
            address = f"{number} {streets[street]}".strip() if street >= 0 else ""
            identities.append((pid, "email", email))
            rows.append(
                (pid, status, None, stage_name, email, first_name, last_name,
                 vocab.COMPANIES[company], job_title, job_function, address,
                 postcode if address else "", city_name, country_code,
                 born if born >= 0 else None, lang, tz, traits, seen_first, seen_last, quality)
            )  # fmt: skip

    def _consent(
        self,
        chunk: Chunk,
        code: str,
        share: float,
        stories: list[tuple[str, int]],
        ids: np.ndarray,
        known: np.ndarray,
        first_seen: np.ndarray,
    ) -> None:
        """People's decisions about one purpose, oldest first (ids follow that order)."""
        rng, now, size = self.rng, self.now, len(ids)
        decided = known & (rng.random(size) < share)
        story = rng.choice(len(stories), size=size, p=_shares([w for _, w in stories]))
        recorded = first_seen + (rng.random(size) * (now - DAY - first_seen)).astype(np.int64)
        later = recorded + 60 + (rng.random(size) * (now - recorded - 120)).astype(np.int64)
        confirmed = recorded + 30 + rng.integers(0, 3600, size)
        how = rng.random(size)
        unsubscribed = rng.random(size) < 0.7
        add = chunk.consents.append
        for index in np.flatnonzero(decided).tolist():
            pid, told, at, then = (
                int(ids[index]),
                stories[story[index]][0],
                int(recorded[index]),
                int(later[index]),
            )
            draw = how[index]
            method, proof, wording = (
                ("form", int(draw / 0.2), True) if draw < 0.6
                else ("import", 3, False) if draw < 0.85
                else ("api", 4, True)
            )  # fmt: skip
            if told in ("pending", "confirmed", "confirmed_withdrawn"):
                # A double opt-in purpose: asked on a form, then maybe confirmed by email.
                proof = int(draw * 3)
                add((pid, code, "pending_confirmation", "form", True, proof, at, None))
                if told != "pending":
                    at_confirmed = int(confirmed[index])
                    add((pid, code, "granted", "double_opt_in", True, proof, at_confirmed, None))
                    then = max(then, at_confirmed + 60)
            else:
                expires = None
                if told == "granted_expiring":
                    expires = at + 3 * 365 * DAY
                elif told == "expired":
                    expires = then
                add((pid, code, "granted", method, wording, proof, at, expires))
            if told.endswith("withdrawn"):
                withdrawal = "unsubscribe_link" if unsubscribed[index] else "preference_page"
                add((pid, code, "withdrawn", withdrawal, False, 0, then, None))
