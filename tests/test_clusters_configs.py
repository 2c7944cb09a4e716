"""The cloud configs are checked the way their tools check them, before any cloud is touched.

Launcher YAMLs: Ray's own `prepare_config` + `validate_config` (what `ray up` runs first: defaults merged, then
ray-schema.json and Ray's cross-field rules). KubeRay manifests: the CRDs of the oldest KubeRay operator their
headers name (vendored under tests/data/), with an unknown field an error as under `kubectl apply --validate=strict`.
Plus what this project needs of them: the versions pinned in requirements.txt, GPUs on the workers, the CUDA torch
installed before the pins, one bucket for Tune and MLflow, MLflow on the head's private address, the sessions where
the search configs look for them, and room for the session cache. Who may connect: tests/test_clusters_access.py.
"""
from __future__ import annotations

import copy
import json
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
# The oldest operator the manifests' headers name; its CRDs' openAPIV3Schema, vendored (tests/data/*/README.md).
KUBERAY = "1.6.0"
CRD_SCHEMAS = ROOT / "tests" / "data" / f"kuberay-v{KUBERAY}"


def strict(schema):
    """``schema`` as `kubectl apply --validate=strict` applies it: an unknown field is an error.

    The API server prunes fields a structural schema does not name (or, with strict field validation, refuses
    them); JSON Schema allows them unless an object says ``additionalProperties: false``. Objects that name their
    properties get that, unless the CRD keeps unknown fields (``x-kubernetes-preserve-unknown-fields``).
    """
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (v if k in ("enum", "required", "default") else strict(v)) for k, v in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def crd_errors(doc: dict) -> list[str]:
    """What KubeRay's CRD for ``doc``'s kind rejects in it, one line per error (``path: message``)."""
    from jsonschema import Draft4Validator

    assert doc.get("apiVersion") == "ray.io/v1", doc.get("apiVersion")
    kind = {"RayCluster": "rayclusters", "RayJob": "rayjobs"}[doc["kind"]]
    schema = json.loads((CRD_SCHEMAS / f"ray.io_{kind}.v1.openapi.json").read_text())
    errors = Draft4Validator(strict(schema)).iter_errors(doc)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors)


def kuberay_header_version(relative: str) -> str:
    match = re.search(r"KubeRay operator >= ([\d.]+)", (CLUSTERS / relative).read_text())
    assert match, f"{relative}: the header names no KubeRay version"
    return match.group(1)


@pytest.mark.parametrize("relative", ["kuberay/raycluster.yaml", "kuberay/rayjob.yaml"])
def test_kuberay_manifest_passes_the_crd_of_the_oldest_operator_it_names(relative):
    assert kuberay_header_version(relative) == KUBERAY
    assert crd_errors(load(relative)) == []


def gpu_problems(spec: dict) -> list[str]:
    """What this project needs of a RayCluster spec beyond the CRD: requirements.txt's Ray, GPUs on the workers."""
    problems = []
    if spec.get("rayVersion") != pinned("ray"):
        problems.append(f"rayVersion {spec.get('rayVersion')!r} is not requirements.txt's Ray")
    for group in spec.get("workerGroupSpecs") or []:
        counts = [group.get(k) for k in ("minReplicas", "replicas", "maxReplicas")]
        if not counts[0] <= counts[1] <= counts[2]:  # the CRD checks types, not this order
            problems.append(f"{group['groupName']}: need minReplicas <= replicas <= maxReplicas, found {counts}")
        for container in group["template"]["spec"]["containers"]:
            if "nvidia.com/gpu" not in container.get("resources", {}).get("limits", {}):
                problems.append(f"{group['groupName']}: container {container['name']} has no nvidia.com/gpu limit")
    return problems


def test_raycluster_has_a_gpu_worker_group_and_no_trials_on_the_head():
    doc = load("kuberay/raycluster.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayCluster")
    assert gpu_problems(doc["spec"]) == []
    assert doc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_rayjob_searches_then_promotes_on_its_own_cluster():
    doc = load("kuberay/rayjob.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayJob")
    assert gpu_problems(doc["spec"]["rayClusterSpec"]) == []
    assert doc["spec"]["rayClusterSpec"] == load("kuberay/raycluster.yaml")["spec"]  # one cluster shape, not two
    entrypoint = doc["spec"]["entrypoint"]
    search = entrypoint.index("sensorium-search search launch configs/search/static2022.yaml --address auto")
    promote = "&& sensorium-search promote static2022 --top-k 3 --seeds 5 --alias champion --address auto"
    assert search < entrypoint.index(promote)
    assert doc["spec"]["shutdownAfterJobFinishes"] is True


@pytest.mark.parametrize("breakage, expected", [
    (lambda d: d["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0].pop("name"),
     "headGroupSpec.template.spec.containers.0: 'name' is a required property"),
    (lambda d: d["spec"].pop("headGroupSpec"), "spec: 'headGroupSpec' is a required property"),
    (lambda d: d["spec"]["workerGroupSpecs"][0].update(replicas="9"),
     "workerGroupSpecs.0.replicas: '9' is not of type"),
    (lambda d: d["spec"]["workerGroupSpecs"][0].update(maxReplica=9),
     "'maxReplica' was unexpected"),  # a misspelt field: strict validation refuses it, the API server would drop it
    (lambda d: d["spec"]["authOptions"].update(mode="tokens"), "spec.authOptions.mode: 'tokens' is not one of"),
    (lambda d: d["spec"]["headGroupSpec"]["template"]["spec"]["volumes"][1]["emptyDir"].update(sizeLimit=[100]),
     "sizeLimit"),
])
def test_the_crd_check_finds_each_broken_field(breakage, expected):
    doc = load("kuberay/raycluster.yaml")
    breakage(doc)
    assert any(expected in e for e in crd_errors(doc)), crd_errors(doc)


@pytest.mark.parametrize("breakage, expected", [
    (lambda s: s["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"].pop(
        "nvidia.com/gpu"), "no nvidia.com/gpu limit"),
    (lambda s: s["workerGroupSpecs"][0].update(replicas=9), "minReplicas <= replicas <= maxReplicas"),
    (lambda s: s.update(rayVersion="2.9.0"), "rayVersion"),
])
def test_the_project_check_finds_each_missing_need(breakage, expected):
    spec = load("kuberay/raycluster.yaml")["spec"]
    breakage(spec)
    assert any(expected in p for p in gpu_problems(spec))


def test_a_field_newer_than_the_named_operator_is_refused():
    # RayJob.spec.backoffLimit came with KubeRay 1.2 and authOptions with 1.5.1 / secretName with 1.6.0: a field
    # the named operator's CRD lacks is an error here, as it is for `kubectl apply --validate=strict`.
    doc = load("kuberay/rayjob.yaml")
    doc["spec"]["rayClusterSpec"]["authOptions"]["issuer"] = "x"
    assert any("'issuer' was unexpected" in e for e in crd_errors(doc))


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


# ---- data and session cache -------------------------------------------------------------------------------------
def config_data_paths(config: str) -> list[str]:
    return yaml.safe_load((ROOT / config).read_text())["data"]["paths"]


@pytest.mark.parametrize("relative", ["kuberay/raycluster.yaml", "kuberay/rayjob.yaml"])
def test_kuberay_sessions_are_mounted_where_the_search_config_looks_and_the_cache_has_room(relative):
    doc = load(relative)
    spec = doc["spec"].get("rayClusterSpec", doc["spec"])
    entrypoint = load("kuberay/rayjob.yaml")["spec"]["entrypoint"]
    workdir = re.search(r"cd (\S+) &&", entrypoint).group(1)
    wanted = [f"{workdir}/{p}" for p in config_data_paths("configs/search/static2022.yaml")]
    for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
        pod = group["template"]["spec"]
        container = pod["containers"][0]
        assert container["workingDir"] == workdir
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert all(path.startswith(mounts["data"] + "/") for path in wanted), (mounts, wanted)
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["XDG_CACHE_HOME"] == mounts["cache"]  # data.cache_dir's default lives on the sized volume
        size = next(v["emptyDir"]["sizeLimit"] for v in pod["volumes"] if v["name"] == "cache")
        requested = container["resources"]["requests"]["ephemeral-storage"]
        assert int(requested.removesuffix("Gi")) > int(size.removesuffix("Gi")) >= 70  # the 2023 cache is ~70 GB


@pytest.mark.parametrize("cloud, scheme", LAUNCHERS.items())
def test_launcher_copies_the_sessions_where_the_search_config_looks(cloud, scheme):
    config = load(f"{cloud}.yaml")
    copy_step = next(c for c in config["setup_commands"] if "copy_files" in c)
    target = re.search(rf"'{scheme}[^']+', '([^']+)'", copy_step).group(1)
    assert config["file_mounts"]["~/sensorium-search"] == "."
    assert target == "/home/ray/sensorium-search/data"
    assert all(p.startswith("data/") for p in config_data_paths("configs/search/static2022.yaml"))
    assert "/data" in config["rsync_exclude"]  # your local sessions are not pushed to every node
    assert "--env XDG_CACHE_HOME=/home/ray/cache" in config["docker"]["run_options"]
