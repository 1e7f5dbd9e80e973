from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Declares bearer tokens in the OpenAPI schema (the docs' "Authorize" button)."""

    target_class = "releasemgmt.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from your account page or `manage.py issue_token`.",
        }
