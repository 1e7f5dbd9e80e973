"""Demo accounts: one per role — two for ops, so a back-out override requested by one ops person
can be confirmed by another — plus a superuser, all with the password from DEMO_PASSWORD."""

from django.conf import settings
from django.contrib.auth.models import Group

from releasemgmt.accounts import roles
from releasemgmt.accounts.models import User

DEMO_USERS = {
    "release-manager": (roles.RELEASE_MANAGER, "Rita", "Release"),
    # a second release manager: four-eyes categories need someone other than the owner
    "release-manager-2": (roles.RELEASE_MANAGER, "Remy", "Release"),
    "change-manager": (roles.CHANGE_MANAGER, "Carl", "Change"),
    "ops": (roles.OPS, "Olga", "Ops"),
    "ops-2": (roles.OPS, "Otto", "Ops"),
    "config-manager": (roles.CONFIGURATION_MANAGER, "Conrad", "Config"),
    "auditor": (roles.AUDITOR, "Aude", "Auditor"),
    "integration": (roles.INTEGRATION, "Integration", "Service"),
}


def seed(stdout) -> None:
    roles.sync_role_groups()
    password = settings.DEMO_PASSWORD
    admin, created = User.objects.get_or_create(
        username="admin",
        defaults={
            "is_staff": True,
            "is_superuser": True,
            "email": "admin@example.com",
            "first_name": "Ada",
        },
    )
    if created:
        admin.set_password(password)
        admin.save()
    for username, (role, first, last) in DEMO_USERS.items():
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.com",
                "is_service_account": role == roles.INTEGRATION,
            },
        )
        if created:
            user.set_password(password)
            user.save()
        user.groups.add(Group.objects.get(name=role))
    stdout.write(f"Demo users: admin, {', '.join(DEMO_USERS)} (password from DEMO_PASSWORD).")
