from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = _("Segments and personas")

    def ready(self) -> None:
        from consent.registry import PersonData, person_data_register
        from profiles.hooks import (
            MergeParticipant,
            events_appended_register,
            merge_participant_register,
            profile_panel_register,
        )
        from segments.services import participants

        merge_participant_register(
            MergeParticipant(
                app="segments",
                move=participants.memberships_move,
                restore=participants.memberships_restore,
            )
        )
        person_data_register(
            PersonData(
                app="segments",
                export=participants.memberships_export,
                erase=participants.memberships_erase,
                label=_("Segments"),
                labels={"memberships": _("segment memberships")},
            )
        )
        profile_panel_register(app="segments", panels=participants.profile_panels)
        events_appended_register(app="segments", listener=_catch_up_soon)


def _catch_up_soon(*, kind: str) -> None:
    """New events from the intake: re-evaluate their people's segments now, not at the tick."""
    if kind != "intake":
        return
    from core.wake import task_wake
    from segments.tasks import segments_catch_up_task

    task_wake(segments_catch_up_task, key="segments-catch-up")
