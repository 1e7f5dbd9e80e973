"""The production path — Dockerfile, docker-compose.yml, .env.example, .dockerignore — checked
against the code it runs: the WSGI module, the Celery app, the settings modules and every
environment variable they read. No Docker is needed; the files are parsed, and the Dockerfile's
collectstatic step is run as the image build runs it."""

import ast
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from releasemgmt.settings import env as env_readers

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_DIR = ROOT / "releasemgmt" / "settings"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SERVICES = {"postgres", "redis", "web", "worker", "callbacks", "beat"}
APP_SERVICES = ("web", "worker", "callbacks", "beat")
PRODUCTION_SETTINGS = "releasemgmt.settings.production"
WSGI_APPLICATION = "releasemgmt.wsgi:application"
# Production refuses to load without these; the build gives them throwaway values for one command.
BUILD_ONLY_VARIABLES = {"DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"}

ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
# ${NAME}, ${NAME:-default}, ${NAME:?error}; a doubled $$ defers expansion to the container's shell.
INTERPOLATION = re.compile(r"(\$?)\$\{([A-Za-z_][A-Za-z0-9_]*)")


# Readers


def settings_variables() -> dict[str, str]:
    """Every environment variable the settings read, mapped to where: each ``env.<reader>("NAME"``
    call in ``releasemgmt/settings/*.py``. The name must be a literal, or this scan would miss it."""
    readers = {
        name
        for name, value in vars(env_readers).items()
        if callable(value) and not name.startswith("_") and value.__module__ == env_readers.__name__
    }
    found = {}
    for path in sorted(SETTINGS_DIR.glob("*.py")):
        if path.name == "env.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "env"
                and node.func.attr in readers
            ):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"{where}: env.{node.func.attr}() must name its variable as a string literal"
            )
            found.setdefault(first.value, where)
    return found


def env_example() -> list[tuple[int, str, str, bool]]:
    """(line number, name, value, active) for each ``NAME=value`` or commented ``# NAME=value``."""
    entries = []
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), start=1):
        match = ASSIGNMENT.match(line.strip())
        if match:
            entries.append((number, match.group(2), match.group(3), match.group(1) is None))
    return entries


def env_example_values() -> dict[str, str]:
    return {name: value for _, name, value, active in env_example() if active}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: continuations joined, comments dropped."""
    instructions, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        keyword, _, arguments = (current + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def dockerfile_env() -> dict[str, str]:
    values = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword != "ENV":
            continue
        tokens = shlex.split(arguments)
        if "=" not in tokens[0]:  # legacy `ENV NAME value`
            values[tokens[0]] = " ".join(tokens[1:])
            continue
        for token in tokens:
            name, _, value = token.partition("=")
            values[name] = value
    return values


def collectstatic_step() -> tuple[dict[str, str], list[str]]:
    """The build's collectstatic RUN: its inline variables and the command they apply to."""
    for keyword, arguments in dockerfile_instructions():
        if keyword == "RUN" and "collectstatic" in arguments:
            tokens = shlex.split(arguments)
            inline = {}
            while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]):
                name, _, value = tokens.pop(0).partition("=")
                inline[name] = value
            command = tokens[: tokens.index("&&")] if "&&" in tokens else tokens
            return inline, command
    pytest.fail("The Dockerfile never runs collectstatic.")


def words(command) -> list[str]:
    """A compose command (list or string) as its words; ``sh -c "exec ..."`` is unwrapped."""
    parts = list(command) if isinstance(command, list) else shlex.split(command)
    if parts[:2] == ["sh", "-c"]:
        parts = shlex.split(parts[2])
    return parts[1:] if parts[:1] == ["exec"] else parts


def environment(service: dict) -> dict[str, str]:
    value = service.get("environment") or {}
    if isinstance(value, list):
        value = dict(item.split("=", 1) for item in value)
    return {name: str(item) for name, item in value.items()}


def env_files(service: dict) -> list[str]:
    value = service.get("env_file") or []
    items = [value] if isinstance(value, str) else value
    return [item if isinstance(item, str) else item["path"] for item in items]


def healthcheck_text(service: dict) -> str:
    test = service.get("healthcheck", {}).get("test", [])
    return " ".join(test) if isinstance(test, list) else test


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


# The compose stack


def test_the_six_services_exist(services):
    assert set(services) >= SERVICES, f"missing: {sorted(SERVICES - set(services))}"


def test_web_worker_and_beat_share_one_image_and_one_env_file(services):
    built = {name: service for name, service in services.items() if "build" in service}
    assert set(APP_SERVICES) <= set(built)
    assert len({json.dumps(service["build"], sort_keys=True) for service in built.values()}) == 1
    images = {service.get("image") for service in built.values()}
    assert len(images) == 1 and None not in images, f"one image name for every build: {images}"
    for name, service in built.items():
        assert env_files(service) == [".env"], f"{name} must read .env"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_the_production_settings(services, name):
    module = environment(services[name]).get("DJANGO_SETTINGS_MODULE")
    assert module == PRODUCTION_SETTINGS
    assert importlib.util.find_spec(module) is not None


def test_web_runs_gunicorn_on_the_wsgi_application(services):
    web = services["web"]
    command = words(web["command"])
    assert command[0] == "gunicorn"
    assert WSGI_APPLICATION in command
    assert "0.0.0.0:8000" in command
    assert any(str(port).endswith(":8000") for port in web["ports"])
    module, _, attribute = WSGI_APPLICATION.partition(":")
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} is not importable"
    tree = ast.parse(Path(spec.origin).read_text())
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert attribute in assigned, f"{module} defines no {attribute}"


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_run_the_celery_app(services, name):
    assert words(services[name]["command"])[:4] == ["celery", "-A", "releasemgmt", name]
    assert importlib.util.find_spec("releasemgmt.celery") is not None


def test_the_callbacks_worker_consumes_the_queue_the_stack_routes_callbacks_to(services):
    # Issue 12: a slow callback receiver must not take the worker slots the watchdog runs in.
    command = words(services["callbacks"]["command"])
    assert command[:4] == ["celery", "-A", "releasemgmt", "worker"]
    queue = command[command.index("-Q") + 1]
    for name in APP_SERVICES:
        assert environment(services[name]).get("CELERY_CALLBACK_QUEUE") == queue, name
    assert "-Q" not in words(services["worker"]["command"])  # the default queue


def test_postgres_and_redis_have_healthchecks(services):
    assert "pg_isready" in healthcheck_text(services["postgres"])
    assert "redis-cli ping" in healthcheck_text(services["redis"])
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_postgres_and_redis(services, name):
    depends_on = services[name]["depends_on"]
    for dependency in ("postgres", "redis"):
        assert depends_on[dependency]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_start_after_the_schema_is_migrated(services, name):
    # Beat and the worker query their tables from the first second, so none may race `migrate`.
    finished_first = [
        dependency
        for dependency, rule in services[name]["depends_on"].items()
        if rule["condition"] == "service_completed_successfully"
    ]
    assert any(
        words(services[dependency]["command"])[:3] == ["python", "manage.py", "migrate"]
        for dependency in finished_first
    )


def test_web_healthcheck_asks_healthz_with_an_allowed_host(services):
    test = services["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    code = test[3]
    compile(code, "web healthcheck", "exec")
    assert "/healthz" in code
    assert '"Host"' in code and "DJANGO_ALLOWED_HOSTS" in code
    # It speaks plain HTTP to gunicorn, so production must not redirect it to https.
    production = ast.parse((SETTINGS_DIR / "production.py").read_text())
    exempt = next(
        ast.literal_eval(node.value)
        for node in production.body
        if isinstance(node, ast.Assign)
        and any(getattr(target, "id", None) == "SECURE_REDIRECT_EXEMPT" for target in node.targets)
    )
    assert any(re.search(pattern, "healthz") for pattern in exempt)


def test_postgres_data_and_media_live_on_named_volumes(compose, services):
    volumes = set(compose["volumes"])
    assert any(mount.split(":")[0] in volumes for mount in services["postgres"]["volumes"])
    for name in APP_SERVICES:
        media_root = environment(services[name])["DJANGO_MEDIA_ROOT"]
        mounts = {
            target: source
            for source, target, *_ in (mount.split(":") for mount in services[name]["volumes"])
        }
        assert mounts.get(media_root) in volumes, f"{name}: {media_root} is not a named volume"
        # The image creates the mount point owned by the app user, so the new volume inherits it.
        assert media_root in DOCKERFILE.read_text()


# .env.example against the settings and the compose file


def test_settings_read_the_environment_only_through_env():
    # Otherwise a variable could be read without settings_variables() seeing it.
    for path in SETTINGS_DIR.glob("*.py"):
        if path.name != "env.py":
            source = path.read_text()
            assert not re.search(r"\bos\.(environ|getenv)\b|\bgetenv\(", source), path.name
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_SECURE_SSL_REDIRECT"} <= set(
        settings_variables()
    ), "the scan of the settings found too little"


def test_every_variable_the_settings_read_is_documented():
    documented = {name for _, name, _, _ in env_example()}
    missing = {
        name: where for name, where in settings_variables().items() if name not in documented
    }
    assert not missing, f"add to .env.example: {missing}"


def test_every_documented_variable_is_read_by_the_settings_or_the_stack():
    text = COMPOSE_FILE.read_text() + DOCKERFILE.read_text()
    used = set(settings_variables()) | {name for _, name in INTERPOLATION.findall(text)}
    unused = [f"line {number}: {name}" for number, name, _, _ in env_example() if name not in used]
    assert not unused, f"nothing reads these .env.example variables: {unused}"


def test_compose_interpolations_are_documented():
    # Single-$ references are filled from .env when compose reads the file.
    documented = {name for _, name, _, _ in env_example()}
    interpolated = {
        name for deferred, name in INTERPOLATION.findall(COMPOSE_FILE.read_text()) if not deferred
    }
    assert interpolated <= documented, f"add to .env.example: {sorted(interpolated - documented)}"


def test_each_variable_is_documented_once_with_a_comment():
    lines = ENV_EXAMPLE.read_text().splitlines()
    names = [name for _, name, _, _ in env_example()]
    assert len(names) == len(set(names)), "a variable is listed twice"
    for number, name, _, _ in env_example():
        above = lines[number - 2].strip() if number > 1 else ""
        assert above.startswith("#") and not ASSIGNMENT.match(above), (
            f".env.example line {number}: say what {name} is on the line above it"
        )


def test_env_example_points_at_the_compose_services(services):
    values = env_example_values()
    database = urlsplit(values["DATABASE_URL"])
    assert database.scheme in {"postgres", "postgresql"}
    assert database.hostname in services and "postgres" in services[database.hostname]["image"]
    assert database.username == values["POSTGRES_USER"]
    assert database.password == values["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == values["POSTGRES_DB"]
    redis = urlsplit(values["REDIS_URL"])
    assert redis.scheme == "redis"
    assert redis.hostname in services and "redis" in services[redis.hostname]["image"]


def test_env_example_leaves_secrets_as_placeholders():
    values = env_example_values()
    # Too short to pass production's check: the stack refuses to start until it is replaced.
    assert "replace-me" in values["DJANGO_SECRET_KEY"] and len(values["DJANGO_SECRET_KEY"]) < 50
    assert "replace-me" in values["POSTGRES_PASSWORD"]
    assert values.get("DJANGO_DEBUG", "false").lower() in {"0", "false", "no", "off"}


def test_static_files_are_served_from_where_the_build_collected_them(services):
    # STATIC_ROOT follows RELEASEMGMT_VAR_DIR: changing it at run time would lose the manifest.
    assert "RELEASEMGMT_VAR_DIR" not in env_example_values()
    for name in APP_SERVICES:
        assert "RELEASEMGMT_VAR_DIR" not in environment(services[name])


# The image


def test_dockerfile_builds_a_non_root_image_serving_gunicorn_on_8000():
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    user = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert user and user[-1] not in {"root", "0"}
    assert ("EXPOSE", "8000") in instructions
    start = " ".join(args for keyword, args in instructions if keyword in {"CMD", "ENTRYPOINT"})
    assert "gunicorn" in start and WSGI_APPLICATION in start
    assert "${WEB_CONCURRENCY" in start
    # Dependencies install from the runtime lock alone (hashes required), before the source, so
    # the layer is cached; the project itself then adds nothing the lock did not pin.
    copies = [index for index, keyword in enumerate(keywords) if keyword == "COPY"]
    first_copy, source_copy = instructions[copies[0]][1], copies[-1]
    assert first_copy.startswith("requirements/runtime.txt ")
    assert instructions[source_copy][1] == ". ."
    assert any(
        keyword == "RUN" and "pip install --require-hashes -r" in arguments
        for keyword, arguments in instructions[copies[0] : source_copy]
    )
    assert any(
        keyword == "RUN" and "pip install --no-deps ." in arguments
        for keyword, arguments in instructions[source_copy:]
    )


def test_the_runtime_lock_pins_every_package_with_hashes_and_no_dev_tools():
    # given the lock the image installs
    lines = (ROOT / "requirements" / "runtime.txt").read_text().splitlines()
    pins = [line.split("==")[0] for line in lines if "==" in line and not line.startswith(" ")]
    # then every requirement is pinned with its hashes, and the dev runner is not among them
    requirements = [line for line in lines if line and not line.startswith(("#", " "))]
    assert requirements and all("==" in line and line.endswith("\\") for line in requirements)
    assert "django" in pins and "celery" in pins
    assert not {"honcho", "pytest", "ruff", "playwright", "import-linter"} & set(pins)
    assert dockerfile_env()["DJANGO_SETTINGS_MODULE"] == PRODUCTION_SETTINGS


def test_build_time_values_are_not_baked_into_the_image():
    inline, _ = collectstatic_step()
    assert set(inline) >= BUILD_ONLY_VARIABLES
    assert not BUILD_ONLY_VARIABLES & set(dockerfile_env())


def test_dockerfile_collectstatic_step_runs_under_production_settings(tmp_path):
    # given the Dockerfile's RUN line: its image ENV, its inline throwaway values, its command
    inline, command = collectstatic_step()
    assert command[:3] == ["python", "manage.py", "collectstatic"] and "--no-input" in command
    image_env = dockerfile_env()
    var_dir = tmp_path / "var"
    run_env = {
        **image_env,
        **inline,
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "RELEASEMGMT_VAR_DIR": str(var_dir),
    }
    assert run_env["DJANGO_SETTINGS_MODULE"] == PRODUCTION_SETTINGS
    # when it runs
    result = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # then production settings accepted the values and wrote the manifest the storage needs
    assert result.returncode == 0, result.stderr
    assert (var_dir / "staticfiles" / "staticfiles.json").is_file()


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    patterns = {
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if not line.startswith("#")
    }
    assert {".env", ".venv", "var", ".git"} <= patterns
