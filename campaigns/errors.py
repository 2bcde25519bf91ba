"""Errors of the campaigns app; the API's exception handler maps them to 4xx answers."""

from __future__ import annotations

from core.errors import DomainError, ErrorCode


class CampaignError(DomainError):
    """Base of the campaigns app's errors."""


class InvalidTemplate(CampaignError):
    """A template that does not compile, names an unknown variable or exceeds a limit."""

    code = ErrorCode.INVALID_TEMPLATE


class InvalidBroadcast(CampaignError):
    """A broadcast to a segment, template or purpose that cannot be used."""


class InvalidWebhook(CampaignError):
    """A webhook call to an endpoint, person or purpose that cannot be used."""


class BroadcastState(CampaignError):
    """The action does not apply to the broadcast in its current state."""

    status = 409
    code = ErrorCode.BROADCAST_STATE


class InvalidJourney(CampaignError):
    """A journey definition that cannot run; `fields` maps the offending step's path."""

    code = ErrorCode.INVALID_JOURNEY


class JourneyState(CampaignError):
    """The action does not apply to the journey (or enrolment) in its current state."""

    status = 409
    code = ErrorCode.JOURNEY_STATE


class NotFound(CampaignError):
    status = 404
    code = ErrorCode.NOT_FOUND
