"""Domain errors that services raise; the API exception handler and the views turn them into
400/403/404/409 with a message a person can act on."""


class DomainError(Exception):
    status_code = 400
    default_message = "The request could not be completed."

    def __init__(self, message=None, *, extra: dict | None = None):
        self.message = message or self.default_message
        self.extra = extra or {}
        super().__init__(self.message if isinstance(self.message, str) else str(self.message))


class DomainValidationError(DomainError):
    """Bad input: ``message`` may be a string or a ``{field: message}`` dict."""

    status_code = 400
    default_message = "The data given is not valid."


class DomainPermissionDenied(DomainError):
    status_code = 403
    default_message = "You do not have permission to do this."


class DomainNotFound(DomainError):
    status_code = 404
    default_message = "Not found."


class DomainConflict(DomainError):
    """The request is valid but conflicts with the current state (illegal transition, a race lost,
    a frozen record)."""

    status_code = 409
    default_message = "This conflicts with the current state; reload and try again."


def error_text(error: DomainError, *, with_fields: bool = False) -> str:
    """The error's message as one sentence for a page, a flash message or a log line: a
    ``{field: message}`` dict (nested or not) is flattened; ``with_fields`` puts each top-level
    field's name before its text, for readers who see no form."""

    def flatten(value, field=None):
        if isinstance(value, dict):
            return [
                text
                for key, inner in value.items()
                for text in flatten(inner, key if field is None else field)
            ]
        return [f"{field}: {value}" if with_fields and field is not None else str(value)]

    return " ".join(flatten(error.message))
