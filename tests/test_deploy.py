"""Production packaging: Dockerfile, docker/ scripts, deploy/ (compose + Helm values).

No Docker engine is needed: the instance configs are validated against Dagster's own config
schema, the Helm values are checked structurally, the image's build step (the dbt manifest)
and health check run on the host, and the Dockerfile is linted as text.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import (
    dagster_instance_config,
    dagster_instance_config_schema,
)
from dagster._core.instance.ref import class_from_code_pointer

from mlops_assets.instance import instance_config
from mlops_assets.resources import WAREHOUSE_POOL
from mlops_assets.settings import PROJECT_DIR, _from_env

ROOT = PROJECT_DIR
DEPLOY = ROOT / "deploy"
COMPOSE_INSTANCE = DEPLOY / "compose" / "dagster.yaml"
COMPOSE_FILE = DEPLOY / "compose" / "docker-compose.yaml"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
DOCKERFILE = ROOT / "Dockerfile"
VENV_BIN = str(Path(sys.executable).parent)


def _validate_instance(config: dict) -> None:
    result = validate_config(dagster_instance_config_schema(), config)
    assert result.success, [e.message for e in result.errors]


def _full_instance_check(config: dict, tmp_path: Path) -> None:
    """Dagster's own loader checks too: schema plus its cross-field rules (storage, queue...)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    dagster_instance_config(str(home))
    for key in ("run_coordinator", "run_launcher", "local_artifact_storage", "compute_logs"):
        if key in config:  # the configured classes exist in this dagster
            class_from_code_pointer(config[key]["module"], config[key]["class"])


# ------------------------------------------------------------------ instance configs


def test_compose_instance_config_matches_dagster_schema(tmp_path):
    config = yaml.safe_load(COMPOSE_INSTANCE.read_text())
    # The core schema carries the `storage: postgres:` block (dagster-postgres is only needed
    # to *load* that storage, not to validate its config).
    _validate_instance(config)
    _full_instance_check(config, tmp_path)

    pg = config["storage"]["postgres"]["postgres_db"]
    assert set(pg) >= {"username", "password", "hostname", "db_name"}
    assert pg["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    # the locked driver is psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3
    assert pg["scheme"] == "postgresql+psycopg2"
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["runs"]["max_concurrent_runs"] > 0


def test_postgres_block_is_really_checked_by_the_core_schema():
    config = yaml.safe_load(COMPOSE_INSTANCE.read_text())
    del config["storage"]["postgres"]["postgres_db"]["hostname"]
    assert not validate_config(dagster_instance_config_schema(), config).success
    config = yaml.safe_load(COMPOSE_INSTANCE.read_text())
    config["storage"]["postgres"]["postgres_db"]["passwrd"] = "typo"
    assert not validate_config(dagster_instance_config_schema(), config).success


def test_embedded_instance_config_matches_dagster_schema(tmp_path):
    settings = _from_env({"MLOPS_DATA_DIR": str(tmp_path / "data")})
    config = instance_config(settings)
    _validate_instance(config)
    _full_instance_check(config, tmp_path)
    assert "sqlite" in config["storage"]
    assert config["concurrency"]["pools"]["default_limit"] == 1


# ------------------------------------------------------------------ compose


def test_compose_services_and_secrets():
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services = compose["services"]
    assert set(services) >= {"postgres", "webserver", "daemon", "mlflow"}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "dagster-webserver" in services["webserver"]["command"]
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    # webserver and daemon run the same image and share /data
    assert services["webserver"]["image"] == services["daemon"]["image"]
    for name in ("webserver", "daemon", "mlflow"):
        assert any(v.startswith("mlops-data:/data") for v in services[name]["volumes"]), name
    mlflow_cmd = " ".join(services["mlflow"]["command"])
    assert "mlflow server" in mlflow_cmd
    assert "--artifacts-destination /data/mlflow/artifacts" in mlflow_cmd
    assert services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith(
        "postgresql+psycopg2://")
    # passwords only by required interpolation from the environment
    text = COMPOSE_FILE.read_text()
    assert "${POSTGRES_PASSWORD:?" in text
    assert services["webserver"]["environment"]["DAGSTER_PG_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    )


# ------------------------------------------------------------------ helm


def test_helm_values_structure():
    values = yaml.safe_load(HELM_VALUES.read_text())

    user = values["dagster-user-deployments"]
    assert user["enabled"] is True
    (deployment,) = user["deployments"]
    assert deployment["image"]["repository"].endswith("mlops-assets")
    assert deployment["image"]["tag"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "mlops_assets.definitions"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", deployment["name"])  # DNS-1123

    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert "k8sRunLauncher" in launcher["config"]

    pg = values["postgresql"]
    assert pg["enabled"] is False and pg["postgresqlHost"]
    assert pg["postgresqlPassword"] == ""  # the real one lives in a Kubernetes Secret
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]

    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"
    runs = values["concurrency"]["runs"]
    assert runs["maxConcurrentRuns"] > 0
    assert runs["tagConcurrencyLimits"]

    assert values["concurrency"]["enabled"] is True
    assert values["concurrency"]["pools"]["defaultLimit"] == 1
    text = HELM_VALUES.read_text()
    assert WAREHOUSE_POOL in text and "spark" in text.lower()


def test_helm_rendered_instance_config_is_accepted_by_dagster(tmp_path):
    """The dagster.yaml parts the chart renders from these values (its templates
    _run-coordinator.tpl, _concurrency.tpl, storage from `postgresql`) load in this dagster."""
    values = yaml.safe_load(HELM_VALUES.read_text())
    qrc = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"] or {}
    coordinator = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}
    if any(v is not None for v in qrc.values()):
        coordinator["config"] = {
            "max_concurrent_runs": qrc.get("maxConcurrentRuns"),
            "tag_concurrency_limits": qrc.get("tagConcurrencyLimits"),
        }
    pools, runs = values["concurrency"]["pools"], values["concurrency"]["runs"]
    pg = values["postgresql"]
    config = {
        "storage": {"postgres": {"postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg.get("postgresqlParams", {}),
            "scheme": pg["postgresqlScheme"],
        }}},
        "run_coordinator": coordinator,
        "concurrency": {
            "pools": {"default_limit": pools["defaultLimit"], "granularity": pools["granularity"]},
            "runs": {
                "max_concurrent_runs": runs["maxConcurrentRuns"],
                "tag_concurrency_limits": runs["tagConcurrencyLimits"],
            },
        },
    }
    _validate_instance(config)
    _full_instance_check(config, tmp_path)


# ------------------------------------------------------------------ no plaintext secrets

_SECRET_KEY = re.compile(
    r"^\s*-?\s*[\"']?(?P<key>[A-Za-z0-9_]*(?:password|passwd|secret|token)[A-Za-z0-9_]*)[\"']?"
    r"\s*[:=]\s*(?P<value>.*?)\s*(?:#.*)?$",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:(?P<pw>[^@\s/]+)@")


def _is_reference(value: str) -> bool:
    value = value.strip().strip("\"'")
    return (
        value.lower() in ("", "{}", "[]", "~", "null", "true", "false")
        # compose interpolation from the environment, dagster `env:` lookup, helm template
        or value.startswith(("${", "$$", "{env:", "{{"))
        or re.fullmatch(r"[A-Za-z0-9_.-]+", value) is not None and value.isupper()  # env NAME
    )


def _plaintext_secrets(path: Path) -> list[str]:
    found = []
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines, 1):
        if line.lstrip().startswith("#"):
            continue
        m = _SECRET_KEY.match(line)
        if m and not _is_reference(m["value"]):
            value = m["value"].strip()
            # block form `password:` / `password:\n  env: X` and secret *names* are fine
            nested_env = value == "" or (
                n < len(lines) and re.match(r"^\s*env:\s*\S+", lines[n])
            )
            if not nested_env and not m["key"].lower().endswith(("secretname", "secrets")):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
        for u in _URL_CREDENTIALS.finditer(line):
            if not u["pw"].startswith("${"):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    return found


def test_no_plaintext_passwords_under_deploy():
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    assert files
    problems = [hit for p in files for hit in _plaintext_secrets(p)]
    assert not problems, problems


def test_secret_scanner_catches_plaintext(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("postgresqlPassword: hunter2\nuri: postgresql://u:hunter2@db/x\n")
    good = tmp_path / "good.yaml"
    good.write_text(
        'password:\n  env: DAGSTER_PG_PASSWORD\npostgresqlPassword: ""\n'
        "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it}\n"
        "uri: postgresql://u:${POSTGRES_PASSWORD}@db/x\npostgresqlSecretName: pg-secret\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert len(_plaintext_secrets(bad)) == 2
        assert _plaintext_secrets(good) == []
    finally:
        ROOT = saved


# ------------------------------------------------------------------ Dockerfile


def test_dockerfile_lint():
    text = DOCKERFILE.read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    froms = [ln for ln in lines if ln.upper().startswith("FROM ")]
    assert len(froms) >= 2, "multi-stage build expected"
    assert any(" AS build" in ln for ln in froms)
    assert "COPY --from=build" in text

    users = [ln.split(None, 1)[1] for ln in lines if ln.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "must not run as root"
    assert "10001" in text

    assert any(ln.upper().startswith("HEALTHCHECK ") for ln in lines)
    assert "docker/healthcheck.sh" in text
    assert re.search(r"uv sync --frozen --no-dev --no-install-project", text)
    assert re.search(r"uv sync --frozen --no-dev(?! --no-install-project)", text)
    assert "docker/build-manifest.sh" in text
    assert "VOLUME" in text and "/data" in text
    assert "EXPOSE 3000" in text
    assert "MLOPS_DATA_DIR=/data" in text and "DAGSTER_HOME=/data/dagster_home" in text
    cmd = next(ln for ln in reversed(lines) if ln.upper().startswith("CMD "))
    assert "dagster-webserver" in cmd and "workspace.yaml" in cmd
    # every file the build COPYs is in the repository and not excluded by .dockerignore
    ignored = {
        ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    for ln in lines:
        if ln.upper().startswith("COPY ") and "--from=" not in ln:
            for src in ln.split()[1:-1]:
                assert (ROOT / src).exists(), src
                assert src.rstrip("/") not in ignored, src


# ------------------------------------------------------------------ scripts on the host


def _host_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_DATA_DIR", "DAGSTER_HOME")}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def test_build_manifest_script_builds_a_fresh_manifest(tmp_path):
    # Like the image build: copy the app (not the shared working tree's dbt target) and run
    # the script there, so this test never rewrites the repository's manifest.
    app = tmp_path / "app"
    shutil.copytree(ROOT / "mlops_assets", app / "mlops_assets",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "dbt_project", app / "dbt_project",
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"))
    shutil.copytree(ROOT / "docker", app / "docker")
    shutil.copy(ROOT / "workspace.yaml", app)

    started = time.time()
    proc = subprocess.run(
        ["bash", str(app / "docker" / "build-manifest.sh")],
        cwd=tmp_path, env=_host_env(MLOPS_DATA_DIR=str(tmp_path / "data")),
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = app / "dbt_project" / "target" / "manifest.json"
    assert manifest.is_file() and manifest.stat().st_size > 1000
    assert manifest.stat().st_mtime >= started - 1
    assert '"nodes"' in manifest.read_text()[:5_000_000]
    assert not (ROOT / "dbt_project" / "target" / "manifest.json").is_relative_to(app)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/server_info"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b'{"dagster_webserver_version": "test"}' if ok else b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_webserver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _healthcheck(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / "docker" / "healthcheck.sh")],
        env=_host_env(**env), capture_output=True, text=True, timeout=30, check=False,
    )


def test_healthcheck_script(fake_webserver):
    assert _healthcheck(MLOPS_HEALTHCHECK_URL=f"{fake_webserver}/server_info").returncode == 0
    assert _healthcheck(MLOPS_HEALTHCHECK_URL=f"{fake_webserver}/nope").returncode == 1
    # nothing listening
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = _healthcheck(MLOPS_HEALTHCHECK_URL=f"http://127.0.0.1:{port}/server_info",
                        MLOPS_HEALTHCHECK_TIMEOUT="2")
    assert down.returncode == 1
    # non-webserver roles skip the HTTP probe
    assert _healthcheck(MLOPS_ROLE="daemon",
                        MLOPS_HEALTHCHECK_URL=f"http://127.0.0.1:{port}/x").returncode == 0


def test_scripts_are_executable_bash():
    for name in ("build-manifest.sh", "healthcheck.sh"):
        path = ROOT / "docker" / name
        assert os.access(path, os.X_OK), name
        text = path.read_text()
        assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_postgres_mode_instance_config_matches_dagster_schema_and_holds_no_password(tmp_path):
    settings = _from_env({"MLOPS_DATA_DIR": str(tmp_path / "data"), "DAGSTER_PG_HOST": "db",
                          "DAGSTER_PG_PASSWORD": "not-in-the-file", "DAGSTER_PG_PORT": "6543"})
    config = instance_config(settings)
    _validate_instance(config)
    pg = config["storage"]["postgres"]["postgres_db"]
    assert pg["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert pg["port"] == 6543 and pg["hostname"] == "db" and pg["scheme"] == "postgresql+psycopg2"
    assert "not-in-the-file" not in yaml.safe_dump(config)


# ------------------------------------------------------------------ secrets only from the environment

_WEBHOOK_URL = re.compile(
    r"https://(hooks\.slack\.com/(services|workflows)|discord(app)?\.com/api/webhooks"
    r"|[a-z0-9.-]*webhook\.office\.com|outlook\.office\.com/webhook)/\S+",
    re.IGNORECASE,
)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_CONFIG_SUFFIXES = {".yaml", ".yml", ".toml", ".ini", ".cfg", ".env", ".json", ".conf"}


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if out.returncode != 0:
        pytest.skip(f"not a git checkout: {out.stderr.decode()[:200]}")
    return [ROOT / p for p in out.stdout.decode().split("\0") if p]


def test_no_secret_in_any_committed_file():
    """Passwords, webhook URLs and keys come from the environment: none is committed. Tests are
    left out (they hold fake secrets on purpose, e.g. the scanner's own fixtures)."""
    files = [p for p in _tracked_files() if p.is_file() and p.relative_to(ROOT).parts[0] != "tests"]
    assert any(p.name == "docker-compose.yaml" for p in files)
    problems = []
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        rel = path.relative_to(ROOT)
        assert not path.name.startswith(".env"), f"{rel}: an env file is committed"
        if path.suffix in _CONFIG_SUFFIXES or path.name in ("Dockerfile", ".env"):
            problems += _plaintext_secrets(path)
        for n, line in enumerate(text.splitlines(), 1):
            if _WEBHOOK_URL.search(line) or _PRIVATE_KEY.search(line):
                problems.append(f"{rel}:{n}: {line.strip()[:120]}")
            for u in _URL_CREDENTIALS.finditer(line):
                if not u["pw"].startswith("${"):
                    problems.append(f"{rel}:{n}: {line.strip()[:120]}")
    assert not problems, problems
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_secrets_reach_the_platform_only_through_the_environment(tmp_path):
    """The webhook URL and the PostgreSQL password are read from the environment when used,
    never copied into what Dagster shows or stores: resource configs and dagster.yaml."""
    from mlops_assets.definitions import defs

    env = {"MLOPS_DATA_DIR": str(tmp_path / "data"), "DAGSTER_PG_HOST": "db",
           "DAGSTER_PG_PASSWORD": "pg-secret-value", "MLOPS_FAILURE_WEBHOOK": "https://hook.example/secret-path"}
    settings = _from_env(env)
    assert settings.failure_webhook == env["MLOPS_FAILURE_WEBHOOK"]  # read from the environment
    dumped = yaml.safe_dump(instance_config(settings))
    assert "pg-secret-value" not in dumped and "DAGSTER_PG_PASSWORD" in dumped
    # resources carry paths and the dbt target only: no credential field to leak into the UI
    for name, resource in (defs.resources or {}).items():
        fields = {k.lower() for k in getattr(resource, "model_fields", {})}
        assert not any(w in f for f in fields for w in ("password", "secret", "token", "webhook")), name
