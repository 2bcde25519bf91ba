"""How a profile is represented in any API answer (profiles' own and other apps').

Outside `api/` on purpose: other apps embed a profile in their answers (segment members,
previews) without reaching into the profiles app's API package.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from consent.services import mask_value, may_unmask
from profiles.fields import PERSONAL_FIELDS, PROFILE_OUTPUT_FIELDS
from profiles.models import Profile


class MaskedForViewers:
    """Masks `masked_fields` unless the request's user may see personal data (not viewers).

    Fail closed: a serializer built without a request masks too.
    """

    masked_fields: tuple[str, ...] = ()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)  # type: ignore[misc]  # a mixin: the serializer it is mixed into has it
        request = self.context.get("request")  # type: ignore[attr-defined]  # idem, context
        if request is None or not may_unmask(request.user):
            for name in self.masked_fields:
                data[name] = mask_value(data.get(name))
        return data


class ProfileSerializer(MaskedForViewers, serializers.ModelSerializer):
    masked_fields = PERSONAL_FIELDS

    class Meta:
        model = Profile
        fields = PROFILE_OUTPUT_FIELDS
        read_only_fields = PROFILE_OUTPUT_FIELDS
