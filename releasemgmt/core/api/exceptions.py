"""One exception handler for the whole API: every error is JSON with a ``detail`` a person can act
on, plus ``errors`` per field for validation failures."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from releasemgmt.core.exceptions import DomainError

logger = logging.getLogger(__name__)


def _django_validation_errors(error: DjangoValidationError):
    if hasattr(error, "error_dict"):
        return {
            field: [m for e in errs for m in e.messages] for field, errs in error.error_dict.items()
        }
    return {"non_field_errors": error.messages}


def _summary(errors) -> str:
    """A one-line summary of field errors: ``title: This field is required.``"""
    if isinstance(errors, dict):
        parts = []
        for field, messages in errors.items():
            text = _summary(messages)
            parts.append(text if field in ("non_field_errors", "detail") else f"{field}: {text}")
        return " ".join(parts)
    if isinstance(errors, list):
        return " ".join(_summary(item) for item in errors)
    return str(errors)


# Deadlock, serialization failure, lock timeout (PostgreSQL SQLSTATEs): the database rolled the
# transaction back on purpose, so nothing was written and the same request can simply be resent.
TRANSIENT_SQLSTATES = {"40P01", "40001", "55P03"}


def _transient(error: OperationalError) -> bool:
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(error)  # SQLite's busy timeout ran out


def exception_handler(exc, context):
    if isinstance(exc, OperationalError) and _transient(exc):
        logger.warning("Transient database conflict answered 503: %s", exc)
        return Response(
            {
                "detail": "The database was busy with a conflicting change and nothing was saved: "
                "send the same request again."
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, DomainError):
        if isinstance(exc.message, dict):
            body = {"detail": _summary(exc.message), "errors": exc.message}
        else:
            body = {"detail": exc.message}
        body.update(exc.extra)
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        errors = _django_validation_errors(exc)
        return Response({"detail": _summary(errors), "errors": errors}, status=400)
    if isinstance(exc, IntegrityError):
        logger.info("Integrity error answered 409: %s", exc)
        return Response(
            {"detail": "This conflicts with existing data (a duplicate or a record in use)."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data
        response.data = {"detail": _summary(errors) or "Invalid input.", "errors": errors}
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.data = {
            "detail": str(exc.detail),
            "hint": "Send `Authorization: Bearer <token>` (create one on your account page) "
            "or sign in.",
        }
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response
