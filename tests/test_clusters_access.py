"""Nobody gets in who should not: every recipe runs Ray with token authentication and MLflow behind its basic-auth
app, with the secrets outside the repository; and, run for real on loopback, a client without the token is refused
by a token-authenticated Ray cluster, and one without the password by the recipes' MLflow server command.
"""
from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from cluster_builders import driver_env

from clusters.local_cluster import LocalCluster, free_port

ROOT = Path(__file__).resolve().parents[1]
CLUSTERS = ROOT / "clusters"
LAUNCHERS = ("aws", "gcp")
KUBERAY = ("kuberay/raycluster.yaml", "kuberay/rayjob.yaml")


def load(relative: str) -> dict:
    return yaml.safe_load((CLUSTERS / relative).read_text())


def cluster_spec(relative: str) -> dict:
    doc = load(relative)
    return doc["spec"].get("rayClusterSpec", doc["spec"])


def mlflow_container() -> dict:
    deployment = next(yaml.safe_load_all((CLUSTERS / "kuberay" / "mlflow.yaml").read_text()))
    return deployment["spec"]["template"]["spec"]["containers"][0]


# ---- the recipes as written -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cloud", LAUNCHERS)
def test_launcher_nodes_need_the_token_and_the_dashboard_is_on_loopback(cloud):
    config = load(f"{cloud}.yaml")
    options = config["docker"]["run_options"]
    assert "--env RAY_AUTH_MODE=token" in options  # every process in the container: ray start, jobs, ray exec
    token = next(o for o in options if o.startswith("--env RAY_AUTH_TOKEN_PATH=")).split("=", 1)[1]
    mounted = {k.replace("~", "/home/ray", 1): v for k, v in config["file_mounts"].items()}
    assert mounted[token].startswith("~/.sensorium/")  # a file on your machine, not in the repository
    commands = " ".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in commands and "0.0.0.0" not in commands


@pytest.mark.parametrize("cloud", LAUNCHERS)
def test_launcher_mlflow_needs_a_password_and_the_driver_has_it(cloud):
    config = load(f"{cloud}.yaml")
    server = next(c for c in config["head_start_ray_commands"] if "mlflow server" in c)
    assert "mlflow server --app-name basic-auth" in server
    assert 'MLFLOW_AUTH_ADMIN_PASSWORD="$(cat ~/.sensorium/mlflow-admin-password)"' in server
    head = next(c for c in config["head_start_ray_commands"] if "ray start --head" in c)
    assert 'MLFLOW_TRACKING_PASSWORD="$(cat ~/.sensorium/mlflow-admin-password)"' in head  # inherited by drivers
    assert config["file_mounts"]["~/.sensorium/mlflow-admin-password"] == "~/.sensorium/mlflow-admin-password"


def test_gcp_workers_carry_rays_service_account_for_the_bucket():
    config = load("gcp.yaml")
    worker = config["available_node_types"]["worker_gpu"]["node_config"]
    project = config["provider"]["project_id"]
    assert worker["serviceAccounts"] == [{"email": f"ray-autoscaler-sa-v1@{project}.iam.gserviceaccount.com",
                                          "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]


@pytest.mark.parametrize("relative", KUBERAY)
def test_kuberay_runs_token_auth_from_a_secret_you_create(relative):
    spec = cluster_spec(relative)
    assert spec["authOptions"] == {"mode": "token", "secretName": "sensorium-ray-token"}
    head_env = {e["name"]: e for e in spec["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]}
    for name, key in (("MLFLOW_TRACKING_USERNAME", "username"), ("MLFLOW_TRACKING_PASSWORD", "password")):
        assert head_env[name]["valueFrom"]["secretKeyRef"] == {"name": "sensorium-mlflow-auth", "key": key}


def test_kuberay_jobs_api_is_open_only_to_the_operator_the_submitter_and_the_cluster():
    # The dashboard stays on the pod address: the operator reads a RayJob's status there and the submitter pod
    # submits to it, both through the head Service. The NetworkPolicy narrows who may connect at all.
    documents = yaml.safe_load_all((CLUSTERS / "kuberay" / "networkpolicy.yaml").read_text())
    policies = {p["metadata"]["name"]: p for p in documents}
    ray, mlflow = policies["sensorium-ray"]["spec"], policies["sensorium-mlflow"]["spec"]
    label = ray["podSelector"]["matchLabels"]
    for relative in KUBERAY:
        spec = cluster_spec(relative)
        for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            assert label.items() <= group["template"]["metadata"]["labels"].items()
    own, jobs_api = ray["ingress"]
    assert own == {"from": [{"podSelector": {"matchLabels": label}}]}
    assert jobs_api["ports"] == [{"port": 8265, "protocol": "TCP"}]
    submitter = next(f["podSelector"]["matchLabels"] for f in jobs_api["from"] if "podSelector" in f)
    assert submitter == {"job-name": load("kuberay/rayjob.yaml")["metadata"]["name"]}
    assert any("namespaceSelector" in f for f in jobs_api["from"])
    assert mlflow["ingress"] == [{"from": [{"podSelector": {"matchLabels": label}}],
                                  "ports": [{"port": 5000, "protocol": "TCP"}]}]
    deployment = next(yaml.safe_load_all((CLUSTERS / "kuberay" / "mlflow.yaml").read_text()))
    assert mlflow["podSelector"]["matchLabels"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_kuberay_mlflow_runs_basic_auth_with_its_admin_from_a_secret():
    container = mlflow_container()
    assert "exec mlflow server --app-name basic-auth" in container["args"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "sensorium-mlflow-auth",
                                                                               "key": "password"}


def test_no_recipe_holds_a_secret():
    text = "\n".join(p.read_text() for p in sorted(CLUSTERS.rglob("*.yaml")))
    assert not re.search(r"(?i)(password|token|secret)[\w-]*\s*[:=]\s*['\"]?[A-Za-z0-9+/]{12,}", text)


# ---- for real, on loopback --------------------------------------------------------------------------------------
JOIN = "import ray; ray.init(address={address!r}); print('JOINED')"


@pytest.mark.slow
@pytest.mark.timeout(420)  # each client may be tried three times (_join)
def test_a_client_without_the_clusters_token_is_refused(tmp_path):
    home = tmp_path / "home"  # no ~/.ray/auth_token of this machine's user can stand in for the token
    home.mkdir()
    with LocalCluster(workers=0, cpus_per_node=1, dashboard=True) as cluster:
        env = driver_env(cluster)
        # A driver retries the GCS once a second, 20 times by default (ray/_private/node.py _init_gcs_client);
        # RAY_gcs_server_port_wait_time_s sets the number of tries
        base = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")} | {
            "HOME": str(home), "RAY_gcs_server_port_wait_time_s": "2"}
        clients = {"no token mode": base, "wrong token": base | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 32}}
        for name, client_env in clients.items():
            done = _join(cluster, client_env)
            assert done.returncode != 0 and "JOINED" not in done.stdout, name
            assert "InvalidAuthToken" in done.stderr, (name, done.stderr[-2000:])
        statuses = [_status(cluster.dashboard_url + "/api/jobs/", headers) for headers in
                    ({}, {"Authorization": "Bearer " + "0" * 32}, cluster.auth_headers())]
        joined = _join(cluster, env)
    assert statuses == [401, 403, 200]  # the Jobs API: no token, a wrong one, the cluster's
    assert "JOINED" in joined.stdout, joined.stderr[-2000:]  # and the token does let a client in


def _join(cluster: LocalCluster, env: dict[str, str], tries: int = 3) -> subprocess.CompletedProcess:
    """A client process joining ``cluster``. A try that found the GCS too slow to answer at all (on a loaded
    machine: "Failed to connect to GCS ... within 5 seconds", neither joined nor refused) is made again; a
    join or a refusal is the answer."""
    for _ in range(tries):
        done = subprocess.run([sys.executable, "-c", JOIN.format(address=cluster.address)], env=env,
                              capture_output=True, text=True, timeout=90)
        answered = "JOINED" in done.stdout or "InvalidAuthToken" in done.stderr
        if answered or "Failed to connect to GCS" not in done.stderr:
            return done
    return done


def _status(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def recipe_mlflow_command(recipe: str, tmp_path: Path, port: int) -> tuple[str, dict[str, str]]:
    """The recipe's own `mlflow server` command, moved to loopback, a free port, sqlite and a local folder."""
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])}
    store, artifacts = f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "artifacts")
    if recipe == "kuberay":
        command = mlflow_container()["args"][0].replace("/tmp/basic_auth.ini", str(tmp_path / "auth.ini"))
        command = command.replace("--host 0.0.0.0 --port 5000", f"--host 127.0.0.1 --port {port}")
        env |= {"MLFLOW_BACKEND_STORE_URI": store, "MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "auth.ini"),
                "MLFLOW_AUTH_ADMIN_USERNAME": "admin", "MLFLOW_AUTH_ADMIN_PASSWORD": "recipe-test-password"}
    else:
        command = next(c for c in load(f"{recipe}.yaml")["head_start_ray_commands"] if "mlflow server" in c)
        command = command.replace("$(hostname -I | awk '{print $1}') --port 5000", f"127.0.0.1 --port {port}")
        secrets = tmp_path / ".sensorium"
        secrets.mkdir()
        (secrets / "mlflow-db-uri").write_text(store + "\n")
        (secrets / "mlflow-admin-password").write_text("recipe-test-password\n")
        env["HOME"] = str(tmp_path)
        command += "\nwait"  # the recipe runs the server in the background; keep it a child of this shell
    command = re.sub(r"--artifacts-destination \S+", f"--artifacts-destination {artifacts}", command)
    return command, env


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("recipe", ["kuberay", "aws"])
def test_the_recipes_mlflow_server_refuses_a_client_without_the_password(recipe, tmp_path):
    port = free_port()
    command, env = recipe_mlflow_command(recipe, tmp_path, port)
    url = f"http://localhost:{port}"  # a Host the kuberay server's --allowed-hosts admits
    server = subprocess.Popen(["bash", "-c", command], env=env, cwd=tmp_path, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "wb"))
    try:
        deadline = time.monotonic() + 150
        while _health(url) != 200:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(1)
        search = url + "/api/2.0/mlflow/experiments/search?max_results=1"
        statuses = [_status(search, h) for h in ({}, _basic("admin", "wrong"), _basic("admin", "recipe-test-password"))]
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the session this test started: bash, mlflow and its workers
        server.wait(timeout=30)
    assert statuses == [401, 401, 200]


def _health(url: str) -> int | None:
    try:
        return _status(url + "/health", {})
    except OSError:
        return None
