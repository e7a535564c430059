"""Typed dependencies: the service's components and the authenticated, authorised caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.components import ServiceComponents
from service.errors import AuthenticationError, PermissionDeniedError
from service.keys import Principal, Role

_bearer = HTTPBearer(auto_error=False, description="An API key from `verirag keys create`.")


def get_components(request: Request) -> ServiceComponents:
    components: ServiceComponents = request.app.state.components
    return components


Components = Annotated[ServiceComponents, Depends(get_components)]


def get_principal(
    request: Request,
    components: Components,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, before any request body is read. A request without a valid key spends its
    client address's budget first: guessing keys or flooding unauthenticated costs the caller
    429s, and the service a dictionary lookup, not an Argon2 hash each."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return authenticate(request, components, None)
    return authenticate(request, components, credentials.credentials)


def authenticate(request: Request, components: ServiceComponents, key: str | None) -> Principal:
    """The key's principal, the caller's budget spent: the API's bearer key, or the review
    pages' session cookie."""
    try:
        if key is None:
            raise AuthenticationError("send an API key as 'Authorization: Bearer KEY'")
        principal = components.keys.authenticate(key)
    except AuthenticationError:
        address = request.client.host if request.client else "unknown"
        components.unauthenticated_limiter.take(address)
        raise
    components.request_limiter.take(principal.key_id)
    return principal


def require(*roles: Role) -> Callable[[Principal], Principal]:
    allowed = frozenset(roles)
    names = " or ".join(sorted(role.value for role in allowed))

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in allowed:
            raise PermissionDeniedError(
                f"this route is for the {names} role; this key has the {principal.role.value} role"
            )
        return principal

    return check


Analyst = Annotated[Principal, Depends(require(Role.ANALYST))]
Reader = Annotated[Principal, Depends(require(Role.ANALYST, Role.COMPLIANCE))]
AnyRole = Annotated[Principal, Depends(require(Role.ANALYST, Role.COMPLIANCE, Role.ADMIN))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Compliance = Annotated[Principal, Depends(require(Role.COMPLIANCE))]
