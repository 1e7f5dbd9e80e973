"""A path id that is not an integer is a 404 on every routed URL, never a 500 (issue 12).

The walk expands every pattern of the root URLconf; each id slot (``<id:pk>``, a router's
``(?P<pk>…)``, ``…_pk``, ``…_id``) in turn gets the fuzzer's ``null,null`` while the other slots get
a valid sample, and every method is tried as a superuser, so a view reached with an id it cannot
read shows up here."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

BAD_ID = "null%2Cnull"  # `null,null`, what schemathesis sent
# a number too long for a 64-bit key (schemathesis found it as an overflow in the query)
HUGE_ID = "1024392198371209683927040"
SAMPLES = {
    "slug": "sample",
    "str": "sample",
    "path": "x",
    "uuid": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
}
SLOT = re.compile(
    r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>|\(\?P<(?P<group>\w+)>(?P<regex>[^()]*(?:\([^()]*\)[^()]*)*)\)"
)


def _is_id(name: str) -> bool:
    return name in ("pk", "id", "object_id") or name.endswith(("_pk", "_id"))


def _patterns(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def _fill(pattern: str, bad_slot: int, bad: str = BAD_ID) -> str:
    """The pattern as a path: slot number ``bad_slot`` gets the bad id, the others a sample."""
    index = -1

    def value(match):
        nonlocal index
        index += 1
        name = match["name"] or match["group"]
        if index == bad_slot:
            return bad
        if _is_id(name) or match["conv"] in ("int", "id"):
            return "1"
        if match["group"]:
            # a regex slot: the first alternative of a choice, else a sample its class accepts
            return match["regex"].split("|")[0].strip("()") if "|" in match["regex"] else "sample"
        return SAMPLES.get(match["conv"] or "str", "sample")

    path = SLOT.sub(value, pattern)
    path = re.sub(r"\\\.\w*/\?|\.sample/\?", "", path)  # drop DRF's optional format suffix
    return "/" + path.replace("^", "").replace("$", "").replace("\\", "")


def id_paths():
    """(pattern, path with a bad id) for each id slot of each routed pattern."""
    cases = set()
    for pattern in _patterns(get_resolver().url_patterns):
        for slot, match in enumerate(SLOT.finditer(pattern)):
            name = match["name"] or match["group"]
            if _is_id(name) or match["conv"] in ("int", "id"):
                for bad in (BAD_ID, HUGE_ID):
                    cases.add((pattern, _fill(pattern, slot, bad)))
    return sorted(cases)


def test_the_walk_finds_the_id_routes():
    paths = {path for _pattern, path in id_paths()}
    assert f"/api/v1/releases/{BAD_ID}/" in paths
    assert f"/api/v1/releases/{BAD_ID}/backout-plan/" in paths
    assert f"/api/v1/releases/1/items/{BAD_ID}/" in paths
    assert f"/releases/{BAD_ID}/plan/" in paths
    assert f"/api/v1/cmdb/cis/{BAD_ID}/" in paths
    assert f"/api/v1/releases/1/items/{HUGE_ID}/" in paths
    assert f"/releases/{HUGE_ID}/plan/" in paths
    assert len(paths) > 160


@pytest.mark.parametrize(("pattern", "path"), id_paths(), ids=[path for _, path in id_paths()])
def test_a_non_integer_id_is_404(client, django_user_model, pattern, path):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    for method in ("get", "post", "put", "patch", "delete"):
        response = getattr(client, method)(path, content_type="application/json")
        if path.startswith("/admin/"):
            # The admin sends an unknown object back to its list with a message (403 where it
            # may not change or delete the model at all).
            assert response.status_code in (302, 403, 404), f"{method} {path}"
        else:
            # 405: the route does not take this method at all, whatever the id.
            assert response.status_code in (404, 405), (
                f"{method.upper()} {path} answered {response.status_code}"
            )
