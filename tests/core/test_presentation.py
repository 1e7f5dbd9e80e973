"""The presentation toolkit every app's pages share: the field template, paginate, error text and
service errors on a form."""

import re

import pytest
from django import forms
from django.test import RequestFactory
from django.urls import reverse

from releasemgmt.core.exceptions import DomainValidationError, error_text
from releasemgmt.core.presentation import paginate

pytestmark = pytest.mark.django_db


class _NameForm(forms.Form):
    name = forms.CharField(help_text="What it is called.")
    secret = forms.CharField(widget=forms.HiddenInput, required=False)


def _described_ids(html: str) -> list[str]:
    return [i for ids in re.findall(r'aria-describedby="([^"]+)"', html) for i in ids.split()]


def test_a_field_group_renders_every_element_its_aria_describedby_names():
    form = _NameForm(data={})

    html = form["name"].as_field_group()

    assert _described_ids(html) == ["id_name_helptext", "id_name_error"]
    assert 'id="id_name_helptext"' in html and 'id="id_name_error"' in html
    assert "This field is required." in html
    assert "<label" not in form["secret"].as_field_group()


def test_every_aria_describedby_on_a_refused_form_page_points_at_an_element(client, role_user):
    client.force_login(role_user("configuration_manager"))

    response = client.post(reverse("cmdb:ci-create"), {"name": ""})

    html = response.content.decode()
    described = _described_ids(html)
    assert described, "the refused form names its errors"
    assert all(f'id="{element}"' in html for element in described)


def test_paginate_takes_only_an_offered_page_size():
    request = RequestFactory().get("/", {"page_size": "7", "page": "2", "q": "x"})

    pages = paginate(request, list(range(120)), per_page=50, sizes=(25, 50))

    assert pages["page_size"] == 50 and pages["page"].number == 2
    assert pages["page_sizes"] == (25, 50)


def test_error_text_flattens_a_field_dict_with_or_without_the_field_names():
    error = DomainValidationError({"seats": "Too few.", "items": {"a": "Old.", "b": "Gone."}})

    assert error_text(error) == "Too few. Old. Gone."
    assert error_text(error, with_fields=True) == "seats: Too few. items: Old. items: Gone."


@pytest.mark.parametrize("page", ["2", "3", "4"])
@pytest.mark.parametrize("order", [("-created_at", "-id"), ("title", "id"), ("-state", "id")])
def test_a_page_further_down_has_the_rows_and_order_of_the_plain_slice(page, order):
    from releases.models import Release
    from releases.selectors import release_list
    from tests.factories import ChangeRequestFactory, ReleaseFactory

    for n in range(11):
        release = ReleaseFactory(title=f"release {n % 4}", state=["planned", "requested"][n % 2])
        release.change_requests.add(ChangeRequestFactory())
    queryset = release_list().order_by(*order)
    request = RequestFactory().get("/", {"page": page})

    rows = paginate(request, queryset, per_page=3)["page"].object_list

    start = (min(int(page), 4) - 1) * 3
    assert [r.pk for r in rows] == [
        r.pk for r in Release.objects.order_by(*order)[start : start + 3]
    ]
    assert all(len(r.change_list) == 1 for r in rows)  # the list's prefetches still apply


def test_a_page_further_down_costs_the_same_queries_whatever_the_rows(
    django_assert_num_queries,
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from releases.selectors import release_list
    from tests.factories import ChangeRequestFactory, ReleaseFactory

    def add(count):
        for release in ReleaseFactory.create_batch(count):
            release.change_requests.add(ChangeRequestFactory())

    def page_two():
        request = RequestFactory().get("/", {"page": "2"})
        return list(paginate(request, release_list(), per_page=5)["page"].object_list)

    add(10)
    with CaptureQueriesContext(connection) as few:
        assert len(page_two()) == 5
    add(40)
    with django_assert_num_queries(len(few)):  # the ids, the rows, their changes, the count
        assert len(page_two()) == 5
