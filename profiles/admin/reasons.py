"""Why a pair of profiles is in a steward's queue, in words."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# Why a pair is in the queue: the evidence the score weighed, strongest kinds first.
_REASONS = (
    ("email", _("same email"), _("different email")),
    ("phone", _("same phone"), _("different phone")),
    ("date_of_birth", _("same date of birth"), _("different date of birth")),
    ("first_name", _("same first name"), _("different first name")),
    ("last_name", _("same last name"), _("different last name")),
    ("address_line", _("same address"), _("different address")),
    ("postcode", _("same postcode"), _("different postcode")),
    ("city", _("same city"), _("different city")),
    ("company", _("same company"), _("different company")),
)


def pair_reasons(features: dict[str, float]) -> str:
    """The evidence for and against a pair, in words: 'same email; same phone; …'."""
    said = [str(_("names swapped"))] if features.get("names_swapped") else []
    if features.get("role_email"):
        said.append(str(_("same role mailbox")))
    for name, agree, disagree in _REASONS:
        sim = features.get(name, -1.0)
        if sim >= 0.85:
            said.append(str(agree) if sim >= 0.999 else f"{_('similar')} {name.replace('_', ' ')}")
        elif sim >= 0:
            said.append(str(disagree))
    return "; ".join(said)
