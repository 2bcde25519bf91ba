"""The steward's dashboard counts what the outbox sent, skipped and saw opened."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.services import broadcast_create, broadcast_schedule, outbox_send_due
from reports.selectors import dashboard
from reports.services import rollups_catch_up
from tests.campaigns.conftest import grant, make_people, static_segment


@pytest.mark.django_db
def test_the_dashboard_counts_emails_sent_and_skipped(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    people = make_people(3)
    for person in people[:2]:
        grant(person, newsletter)  # the third never agreed: skipped by the gate
    segment = static_segment(people)
    broadcast = broadcast_create(
        name="News", segment_id=segment.pk, template_id=template.pk, purpose_id=newsletter.pk
    )
    broadcast_schedule(broadcast_id=broadcast.pk)
    outbox_send_due()
    rollups_catch_up()  # the dashboard reads the message rollup

    figures = {str(figure.label): figure for figure in dashboard().figures}

    assert len(smtp_sink.messages) == 2
    assert (figures["Emails sent"].value, figures["Emails skipped"].value) == (2, 1)
    assert (
        str(figures["Emails sent"].hint)
        == "2 delivered, 0 opened, 0 clicked by people (machines apart)"
    )
    sent = next(d for d in dashboard().charts["messages"]["datasets"] if d["label"] == "Sent")
    assert sent["data"][-1] == 2
