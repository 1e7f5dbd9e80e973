"""The reference agent (`manage.py run_agent`) against a live server, over HTTP only: it fetches
its work, downloads and checks artefacts, reports distribution, installation and back-out, and
the release follows — through to the halt when installations fail."""

import io
import socket

import pytest
from django.core.management import CommandError, call_command

from releasemgmt.accounts.services import api_token_issue
from releases import services
from releases.choices import InstallationState as IS
from releases.choices import ReleaseState as S
from releases.models import DeploymentReport, Release
from releases.services import installation
from tests.factories import UserFactory
from tests.releases.test_deployment import make_release

pytestmark = pytest.mark.django_db(transaction=True)


def agents(live_server, release, token, *extra) -> str:
    """One poll of the agents of every target of the release; what they printed."""
    out = io.StringIO()
    call_command(
        "run_agent",
        "--release",
        release.number,
        "--server",
        live_server.url,
        "--token",
        token,
        "--once",
        "--work-seconds",
        "0",
        *extra,
        stdout=out,
    )
    return out.getvalue()


@pytest.fixture
def token():
    _, raw = api_token_issue(user=UserFactory(roles=["integration"]), name="agents", by=None)
    return raw


def test_agents_distribute_and_install_a_release(live_server, token):
    # given: a release distributing to 5 targets
    release = make_release(state=S.DISTRIBUTING, targets=5, threshold=30)
    manager = UserFactory(roles=["release_manager"])

    # when: the agents poll: they download, check the checksum and report
    printed = agents(live_server, release, token)

    # then: every target has it and the release is distributed
    assert printed.count("distribution succeeded") == 5, printed
    release.refresh_from_db()
    assert (release.state, release.count_distributed) == (S.DISTRIBUTED, 5)

    # when: installation starts, the picker releases the due targets and the agents poll again
    services.release_transition(release=release.pk, name="install", by=manager)
    assert installation.installations_dispatch_due() == 5
    printed = agents(live_server, release, token)

    # then: installed everywhere, each report once
    assert printed.count("installation succeeded") == 5
    release.refresh_from_db()
    assert (release.state, release.count_installed) == (S.INSTALLED, 5)
    assert (
        DeploymentReport.objects.filter(target__release=release, kind="installation").count() == 5
    )


def test_failing_installations_halt_the_release_and_the_agents_back_out(live_server, token):
    # given: 5 installations running; more than 30 % failing means back-out
    release = make_release(state=S.INSTALLING, targets=5, threshold=30)
    release.targets.update(installation_state=IS.RUNNING, distribution_state="delivered")

    # when: every installation fails
    printed = agents(live_server, release, token, "--fail-rate", "1")

    # then: the second failure (40 %) halts the release; reports after it are recorded, not
    # acted on (an agent that polls after the halt finds no installation to run at all) — the
    # targets show their results all the same, and the counters with them (issue #12)
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    assert release.backout_figures["installation_failed"] == 2
    # every failure an agent reported is counted, refused or not; an agent whose poll came
    # after the halt (a busy machine) had nothing to run and reported nothing
    failed = printed.count("installation failed")
    assert release.count_install_failed == failed >= 2
    refused = printed.count("→ 409")
    assert printed.count("installation failed") - refused == 2
    assert DeploymentReport.objects.filter(target__release=release, acted=False).count() == refused

    # when: ops approve the back-out and the agents poll
    services.release_transition(
        release=release.pk, name="approve_backout", by=UserFactory(roles=["ops"])
    )
    printed = agents(live_server, release, token)

    # then: every target that had started is restored and the release is backed out
    assert printed.count("backout succeeded") == 5
    release = Release.objects.get(pk=release.pk)
    assert (release.state, release.count_backed_out) == (S.BACKED_OUT, 5)


def test_no_server_at_the_address_is_a_clear_message_not_a_traceback(db):
    UserFactory(username="integration", roles=["integration"])
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(CommandError) as refused:
        call_command("run_agent", "--demo", "--server", f"http://127.0.0.1:{port}", "--once")

    message = str(refused.value)
    assert f"No server answers at http://127.0.0.1:{port}" in message
    assert "make agents PORT=" in message
