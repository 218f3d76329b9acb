"""docker-compose.yml, the NATS cluster config, Prometheus and Grafana files load and agree.

`docker compose config` (or docker-compose v1) validates the compose file when installed; the
structural checks below run everywhere, with no browser and no running Grafana/Prometheus.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
EXAMPLE_ENV = ROOT / "deploy" / "docker" / "example.env"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "baikal.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "baikal.yml"
REQUIRED = {"nats-1", "nats-2", "nats-3", "postgres", "identity", "quota", "scheduler",
            "agent-1", "agent-2", "gateway", "prometheus", "grafana"}
# Metrics the dashboard shows that no code exports yet (named here so the gap stays visible).
PENDING_METRICS: set[str] = set()


def env_file() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in EXAMPLE_ENV.read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {key: value for key, value in pairs}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


# ---- compose ------------------------------------------------------------------------------


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_validates() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("!!! neither the docker compose plugin nor docker-compose is installed: "
                    "`docker compose config` cannot run here (the structural checks in this "
                    "file still ran) !!!")
    done = subprocess.run([*command, "--env-file", str(EXAMPLE_ENV), "-f", str(COMPOSE),
                           "config", "-q"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    missing = subprocess.run([*command, "-f", str(COMPOSE), "config", "-q"],
                             capture_output=True, text=True, cwd=ROOT, timeout=60,
                             env={k: v for k, v in os.environ.items()
                                  if k not in env_file()}, check=False)
    assert missing.returncode != 0 and "set it in .env" in missing.stderr


def test_compose_has_every_component_and_its_references_resolve() -> None:
    spec = compose()
    services = spec["services"]
    assert REQUIRED <= set(services)
    variables = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    assert variables - set(env_file()) <= {"BAIKAL_ADMIN_EMAIL", "CIPHER_KEY_RBAC",
                                           "CIPHER_KEY_STORAGE"}
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for network in service.get("networks", []):
            assert network in spec["networks"]
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, source)
            elif not source.startswith("/"):
                assert source in spec["volumes"], (name, source)
        command = service.get("command")
        if service.get("image") == "baikal:latest" and name != "bootstrap":
            module = command[0].replace(".", "/")
            assert (ROOT / module / "__main__.py").exists(), (name, module)
    assert services["gateway"]["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "\nFROM python:3.11" in dockerfile
    assert 'ENTRYPOINT ["python", "-m"]' in dockerfile


def test_each_component_connects_as_a_nats_user_that_exists() -> None:
    users = set(re.findall(r'"user": "([a-z0-9-]+)"', (ROOT / "deploy/nats/auth.conf").read_text()))
    for name, service in compose()["services"].items():
        user = (service.get("environment") or {}).get("BAIKAL_NATS_USER")
        if user is not None:
            assert user in users, (name, user)


# ---- NATS -----------------------------------------------------------------------------------


def test_nats_auth_conf_is_generated_from_the_stack_principals() -> None:
    done = subprocess.run([sys.executable, "deploy/nats/render_auth.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_nats_cluster_config_is_valid_for_nats_server() -> None:
    binary = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    env = {**os.environ, **env_file(), "NATS_SERVER_NAME": "nats-1"}
    done = subprocess.run([binary, "-t", "-c", "deploy/nats/nats.conf"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    conf = (ROOT / "deploy/nats/nats.conf").read_text()
    assert "jetstream" in conf and all(f"nats-route://nats-{n}:6222" in conf for n in (1, 2, 3))


# ---- Prometheus ----------------------------------------------------------------------------

DURATION = re.compile(r"^\d+(ms|s|m|h|d|w|y)$")


def test_prometheus_config_scrapes_every_component_where_it_listens() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert set(config) <= {"global", "scrape_configs", "rule_files", "alerting"}
    for key in ("scrape_interval", "evaluation_interval"):
        assert DURATION.match(config["global"][key])
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert len(jobs) == len(set(jobs))
    services = compose()["services"]
    scraped: set[str] = set()
    for job in config["scrape_configs"]:
        assert set(job) <= {"job_name", "static_configs", "metrics_path", "scrape_interval"}
        for group in job["static_configs"]:
            assert set(group) <= {"targets", "labels"}
            for target in group["targets"]:
                host, port = target.rsplit(":", 1)
                if host == "localhost":
                    continue
                assert host in services, target
                scraped.add(host)
                environment = services[host].get("environment") or {}
                listens = environment.get("BAIKAL_HTTP_PORT")
                if listens is not None:
                    assert port == listens, (target, listens)
    baikal = {n for n, s in services.items() if s.get("image") == "baikal:latest"}
    assert baikal - {"bootstrap", "provision"} <= scraped  # one-offs


# ---- Grafana --------------------------------------------------------------------------------


def exported_metrics() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        names |= set(re.findall(r'"(bai_[a-z0-9_]+)"', path.read_text()))
    return names


def test_grafana_provisioning_points_at_the_dashboard_and_datasource() -> None:
    datasource = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load(PROVIDERS.read_text())["providers"][0]
    mounts = compose()["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_grafana_dashboard_is_well_formed_and_its_queries_parse() -> None:
    promql = pytest.importorskip("promql_parser", reason="pip install promql-parser (dev extra)")
    dashboard = json.loads(DASHBOARD.read_text())
    assert {"uid", "title", "panels", "schemaVersion", "time", "templating"} <= set(dashboard)
    datasource_uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    occupied: set[tuple[int, int]] = set()
    used: set[str] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "gauge", "bargauge", "table"}
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource_uid
            promql.parse(target["expr"])  # raises on a syntax error
            used |= set(re.findall(r"\b(bai_[a-z0-9_]+)\b", target["expr"]))
    exported = exported_metrics()
    unknown = {m for m in used if m not in PENDING_METRICS and not any(
        m == name or m == name + suffix for name in exported
        for suffix in ("_bucket", "_sum", "_count", "_total"))}
    assert unknown == set(), "the dashboard queries metrics no service exports"
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("sessions by status", "commands per second", "latency", "capacity",
                  "occupancy", "gpu utilisation", "consumer lag", "dead letters"):
        assert topic in titles, topic
