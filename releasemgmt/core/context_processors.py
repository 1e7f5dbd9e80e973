from django.urls import reverse


def navigation(request):
    """The navigation bar's entries; each appears once its feature exists."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = [
        ("Home", reverse("core:home")),
        ("API docs", reverse("api-docs")),
    ]
    if user.is_staff:
        items.append(("Admin", reverse("admin:index")))
    return {"nav_items": items}
