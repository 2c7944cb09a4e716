"""The cloud configs are checked the way their tools check them, before any cloud is touched.

Launcher YAMLs: Ray's own `prepare_config` + `validate_config` (what `ray up` runs first: defaults merged, then
ray-schema.json and Ray's cross-field rules). KubeRay manifests: the fields the operator requires of a RayCluster
and a RayJob. Plus what this project needs of them: the versions pinned in requirements.txt, GPUs on the workers,
the CUDA torch installed before the pins, one bucket for Tune and MLflow, MLflow on the head's private address.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLUSTERS = ROOT / "clusters"
LAUNCHERS = {"aws": "s3://", "gcp": "gs://"}


def pinned(package: str) -> str:
    """The version requirements.txt pins ``package`` to."""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.fullmatch(rf"{re.escape(package)}(\[[^\]]*\])?==(\S+)", line.strip())
        if match:
            return match.group(2)
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def load(relative: str) -> dict:
    return yaml.safe_load((CLUSTERS / relative).read_text())


def validated_by_ray(config: dict) -> dict:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


# ---- Ray cluster launcher (`ray up`) ----------------------------------------------------------------------------
@pytest.mark.parametrize("cloud", LAUNCHERS)
def test_launcher_config_passes_rays_own_validation(cloud):
    prepared = validated_by_ray(load(f"{cloud}.yaml"))
    assert prepared["provider"]["type"] == cloud
    head = prepared["available_node_types"][prepared["head_node_type"]]
    assert head["resources"] == {"CPU": 0} and head["max_workers"] == 0  # no trial on the head
    workers = [t for name, t in prepared["available_node_types"].items() if name != prepared["head_node_type"]]
    assert len(workers) == 1 and workers[0]["min_workers"] == 0 and workers[0]["max_workers"] >= 2


@pytest.mark.parametrize("broken, message", [
    (lambda c: c.update(max_worker=4), "'max_worker' was unexpected"),
    (lambda c: c["available_node_types"]["worker_gpu"].pop("node_config"), "'node_config' is a required property"),
    (lambda c: c["available_node_types"]["worker_gpu"].update(min_workers=20), "smaller than the sum of `min_workers`"),
    (lambda c: c.update(head_node_type="head_gpu"), "`head_node_type` must be one of"),
])
def test_rays_validation_rejects_a_broken_launcher_config(broken, message):
    from jsonschema import ValidationError

    config = load("aws.yaml")
    broken(config)
    with pytest.raises((ValidationError, ValueError), match=re.escape(message)):
        validated_by_ray(config)


@pytest.mark.parametrize("cloud", LAUNCHERS)
def test_launcher_installs_cuda_torch_then_the_pins_then_the_project(cloud):
    config = load(f"{cloud}.yaml")
    setup = config["setup_commands"]
    torch_step = next(i for i, c in enumerate(setup) if "torch==" in c)
    assert f"torch=={pinned('torch')} --index-url https://download.pytorch.org/whl/cu" in setup[torch_step]
    pins_step = next(i for i, c in enumerate(setup) if "-r requirements.txt" in c)
    assert torch_step < pins_step and "pip install -q --no-deps -e ." in setup[pins_step]
    ray_version = pinned("ray")
    assert config["docker"]["head_image"] == f"rayproject/ray:{ray_version}-py311-cpu"
    assert config["docker"]["worker_image"] == f"rayproject/ray:{ray_version}-py311-gpu"


@pytest.mark.parametrize("cloud", LAUNCHERS)
def test_launcher_head_runs_no_trials_and_mlflow_on_its_private_address(cloud):
    config = load(f"{cloud}.yaml")
    head_start = " ".join(config["head_start_ray_commands"])
    assert "ray start --head" in head_start and "--num-cpus=0" in head_start
    mlflow = next(c for c in config["head_start_ray_commands"] if "mlflow server" in c)
    assert "--host $(hostname -I | awk '{print $1}')" in mlflow
    assert "--backend-store-uri \"$(cat ~/.sensorium/mlflow-db-uri)\"" in mlflow  # PostgreSQL, outside the head
    assert "MLFLOW_TRACKING_URI=http://$(hostname -I | awk '{print $1}'):5000" in head_start


@pytest.mark.parametrize("cloud, scheme", LAUNCHERS.items())
def test_launcher_uses_one_bucket_for_data_and_mlflow_artifacts(cloud, scheme):
    text = (CLUSTERS / f"{cloud}.yaml").read_text()
    buckets = set(re.findall(r"\b(?:s3|gs)://([\w.-]+)", text))
    assert buckets == {"CHANGE-ME-sensorium-search"}
    assert f"--artifacts-destination {scheme}CHANGE-ME-sensorium-search/mlflow" in text
    assert f"'{scheme}CHANGE-ME-sensorium-search/data'" in text


# ---- KubeRay ----------------------------------------------------------------------------------------------------
def raycluster_problems(spec: dict) -> list[str]:
    """What the KubeRay operator (or this project) would reject in a RayCluster spec; empty when it is sound."""
    problems = []
    if spec.get("rayVersion") != pinned("ray"):
        problems.append(f"rayVersion {spec.get('rayVersion')!r} is not requirements.txt's Ray")
    head = spec.get("headGroupSpec", {})
    if not isinstance(head.get("rayStartParams"), dict):
        problems.append("headGroupSpec.rayStartParams missing")
    problems += [f"headGroupSpec: {p}" for p in _pod_problems(head.get("template", {}))]
    groups = spec.get("workerGroupSpecs") or []
    if not groups:
        problems.append("no workerGroupSpecs")
    for group in groups:
        name = group.get("groupName")
        if not name:
            problems.append("worker group without groupName")
        counts = [group.get(k) for k in ("minReplicas", "replicas", "maxReplicas")]
        if not all(isinstance(c, int) for c in counts) or not counts[0] <= counts[1] <= counts[2]:
            problems.append(f"{name}: need minReplicas <= replicas <= maxReplicas, found {counts}")
        if not isinstance(group.get("rayStartParams"), dict):
            problems.append(f"{name}: rayStartParams missing")
        problems += [f"{name}: {p}" for p in _pod_problems(group.get("template", {}))]
        for container in group.get("template", {}).get("spec", {}).get("containers", []):
            if "nvidia.com/gpu" not in container.get("resources", {}).get("limits", {}):
                problems.append(f"{name}: container {container.get('name')} has no nvidia.com/gpu limit")
    return problems


def _pod_problems(template: dict) -> list[str]:
    containers = template.get("spec", {}).get("containers") or []
    if not containers:
        return ["template.spec.containers is empty"]
    return [f"container {c.get('name')!r} lacks a name or image" for c in containers
            if not c.get("name") or not c.get("image")]


def test_raycluster_has_what_the_operator_requires_and_a_gpu_worker_group():
    doc = load("kuberay/raycluster.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayCluster")
    assert raycluster_problems(doc["spec"]) == []
    assert doc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_rayjob_searches_then_promotes_on_its_own_cluster():
    doc = load("kuberay/rayjob.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayJob")
    assert raycluster_problems(doc["spec"]["rayClusterSpec"]) == []
    assert doc["spec"]["rayClusterSpec"] == load("kuberay/raycluster.yaml")["spec"]  # one cluster shape, not two
    entrypoint = doc["spec"]["entrypoint"]
    search = entrypoint.index("sensorium-search search launch configs/search/static2022.yaml --address auto")
    promote = "&& sensorium-search promote static2022 --top-k 3 --seeds 5 --alias champion --address auto"
    assert search < entrypoint.index(promote)
    assert doc["spec"]["shutdownAfterJobFinishes"] is True


@pytest.mark.parametrize("breakage, expected", [
    (lambda s: s["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"].pop(
        "nvidia.com/gpu"), "no nvidia.com/gpu limit"),
    (lambda s: s["workerGroupSpecs"][0].update(replicas=9), "minReplicas <= replicas <= maxReplicas"),
    (lambda s: s["headGroupSpec"].pop("rayStartParams"), "rayStartParams missing"),
    (lambda s: s["headGroupSpec"]["template"]["spec"]["containers"][0].pop("image"), "lacks a name or image"),
    (lambda s: s.update(rayVersion="2.9.0"), "rayVersion"),
])
def test_the_kuberay_check_finds_each_missing_field(breakage, expected):
    spec = load("kuberay/raycluster.yaml")["spec"]
    breakage(spec)
    assert any(expected in p for p in raycluster_problems(spec))


def test_mlflow_service_is_cluster_internal_and_backed_by_a_secret():
    deployment, service = yaml.safe_load_all((CLUSTERS / "kuberay" / "mlflow.yaml").read_text())
    assert (deployment["kind"], service["kind"], service["spec"]["type"]) == ("Deployment", "Service", "ClusterIP")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "sensorium-mlflow-db"
    head_env = load("kuberay/raycluster.yaml")["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "MLFLOW_TRACKING_URI", "value": f"http://{service['metadata']['name']}:5000"} in head_env


def test_image_installs_the_pinned_torch_and_ray():
    dockerfile = (CLUSTERS / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{pinned('ray')}-py311-gpu" in dockerfile
    assert f"torch=={pinned('torch')} --index-url https://download.pytorch.org/whl/cu" in dockerfile
