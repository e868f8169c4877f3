"""Intake's event schemas as they evolved; stored events are never rewritten.

v2 of NominationReturned and NominationEndorsed names the commission as well
as its id (so that a notification can say who returned it). Events written
before carry only the id; read through these steps they have an empty name,
which readers treat as "say the id".
"""

from __future__ import annotations

from laurel.intake import domain
from laurel.upcasting import Payload, Upcasters

INTAKE_UPCASTERS = Upcasters()


@INTAKE_UPCASTERS.register(domain.NOMINATION_RETURNED, 1)
def returned_names_its_commission(payload: Payload) -> Payload:
    return {**payload, "commission_name": payload.get("commission_name", "")}


@INTAKE_UPCASTERS.register(domain.NOMINATION_ENDORSED, 1)
def endorsed_names_its_commission(payload: Payload) -> Payload:
    return {**payload, "commission_name": payload.get("commission_name", "")}

