"""Pieces of API schema shared by several features."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt
from pydantic_core import PydanticCustomError

from pitchtank.core.routing import MAX_ID


class Body(BaseModel):
    """A request body: unknown fields are refused rather than silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _rfc3339_text(value: Any) -> Any:
    # pydantic would read a JSON number as a Unix timestamp; the contract says RFC 3339 text.
    if isinstance(value, datetime | str):
        return value
    raise PydanticCustomError("datetime_type", "Enter a date and time as RFC 3339 text.")


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
"""A time in a request body: RFC 3339 text with its UTC offset."""

Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
"""An id in a request body: a whole number that can name a row (a larger one is a 422, not a 500)."""


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OrganizationRef(Out):
    id: int
    name: str


class UserOut(Out):
    id: int
    email: str
    name: str
    roles: list[str]
    organization: OrganizationRef | None


def user_out(user) -> dict:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        roles=sorted(r.value for r in user.roles),
        organization=OrganizationRef.model_validate(user.organization) if user.organization else None,
    ).model_dump(mode="json")
