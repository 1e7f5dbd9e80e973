"""``manage.py import_cmdb``: one line per problem, the counts, and a non-zero exit code when the
file has problems."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from cmdb.models import ConfigurationItem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def command(*args):
    out = io.StringIO()
    call_command("import_cmdb", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def csv_file(tmp_path):
    def make(text, name="cis.csv"):
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return str(path)

    return make


def test_a_valid_file_is_imported_and_counted(csv_file):
    out = command("cis", csv_file("identifier,name,kind\nweb-01,Web,server\nweb-02,Web,server\n"))
    assert out.startswith("Imported cis.csv: 2 created, 0 updated, 0 unchanged, 0 warnings (")
    assert ConfigurationItem.objects.count() == 2


def test_dry_run_prints_the_counts_and_writes_nothing(csv_file):
    out = command("cis", csv_file("identifier,name,kind\nweb-01,Web,server\n"), "--dry-run")
    assert out.strip() == (
        "cis.csv is valid: 1 rows — 1 to create, 0 to update, 0 unchanged, 0 warnings. "
        "Dry run: nothing was written."
    )
    assert not ConfigurationItem.objects.exists()


def test_problems_are_printed_one_per_line_and_the_command_fails(csv_file):
    out = io.StringIO()
    path = csv_file("identifier,name,kind\nweb-01,Web,server\nweb-02,,rack\n")
    with pytest.raises(CommandError) as error:
        call_command("import_cmdb", "cis", path, stdout=out)
    assert error.value.returncode == 1
    assert str(error.value) == "cis.csv: 2 problems; nothing was written."
    assert out.getvalue().splitlines() == [
        "row 3, column name: Required: give a value.",
        "row 3, column kind: “rack” is not one of server, virtual_machine, workstation, laptop, "
        "network_device, storage, software, service, application.",
    ]
    assert not ConfigurationItem.objects.exists()


def test_file_level_problems_are_printed(csv_file):
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import_cmdb", "cis", csv_file("identifier,name\nwéb,x\n".encode("cp1252")), stdout=out
        )
    assert out.getvalue().startswith("file: The file is not UTF-8 text: byte 0xE9 on line 2")


@override_settings(CMDB_IMPORT_MAX_BYTES=100)
def test_an_oversize_file_fails(csv_file):
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_cmdb", "cis", csv_file(b"x" * 101), stdout=out)
    assert out.getvalue().strip() == (
        "file: The file is larger than 100 bytes; split it into smaller files."
    )


def test_warnings_do_not_fail_the_command(csv_file):
    from tests.factories import (
        ConfigurationItemFactory,
        SoftwareProductFactory,
        SoftwareVersionFactory,
    )

    ConfigurationItemFactory(identifier="ws-1")
    product = SoftwareProductFactory(name="Office", licensed=True)
    SoftwareVersionFactory(product=product, version="1", with_artefact=False)
    out = command(
        "installed-software", csv_file("ci,product,version\nws-1,Office,1\n", name="sw.csv")
    )
    lines = out.splitlines()
    assert lines[0].startswith("warning: row 2, column licence: No valid licence of")
    assert lines[1].startswith("Imported sw.csv: 1 created, 0 updated, 0 unchanged, 1 warning (")


def test_the_user_is_recorded(csv_file):
    user = UserFactory(username="cm")
    command("cis", csv_file("identifier,name,kind\nweb-01,Web,server\n"), "--user", "cm")
    assert ConfigurationItem.objects.get().history.get().history_user == user
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        command("cis", csv_file("identifier,name,kind\nweb-01,Web,server\n"), "--user", "nobody")


def test_a_missing_file_and_an_unknown_kind_fail(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        command("cis", str(tmp_path / "nope.csv"))
    with pytest.raises(CommandError, match="invalid choice: 'servers'"):
        command("servers", str(tmp_path / "nope.csv"))


def test_standard_input_is_read(monkeypatch):
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(b"identifier,name,kind\nweb-01,Web,server\n"))
    )
    assert command("cis", "-").startswith("Imported stdin.csv: 1 created")


def test_the_process_exit_code_is_non_zero(tmp_path):
    """As a shell or CI job sees it: a file with problems exits 1 (a header problem is found
    before the database is touched, so this needs no test database)."""
    path = tmp_path / "bad.csv"
    path.write_text("identifier,colour\nweb-01,red\n")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "releasemgmt.settings.test",
        "RELEASEMGMT_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "import_cmdb", "cis", str(path), "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "row 1, column colour: Unknown column: colour." in result.stdout
    assert "2 problems; nothing was written." in result.stderr
