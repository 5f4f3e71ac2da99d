"""Pieces of API schema shared by several features."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    """A request body: unknown fields are refused rather than silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
