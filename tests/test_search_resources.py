"""search.resources: GPUs that depend on the trial's configuration, the per-trial GPU share and cap."""
from __future__ import annotations

import pytest
from ray.tune.trainable.function_trainable import wrap_function

from search.cluster_growth import AUTOSCALER_SAYS, Growth, bootstrap_node_types, configured_node_types
from search.config import parse_spec
from search.resources import Resources, check_resources, device_share, size_of, trial_gpus, wait_or_refuse
from search.trainable import trainable
from sensorium_models.errors import UserError
from test_search_config import SCHEMAS

WIDE = {"key": "model.core.channels", "at_least": 12, "gpus": 1}


@pytest.fixture
def raw(tmp_path):
    (tmp_path / "session").mkdir()
    return {
        "data": {"paths": [str(tmp_path / "session")]},
        "model": {"core": {"channels": {"int": [4, 16]}}, "history_taus": {"choice": [[], [2.0, 8.0]]}},
        "trainer": {"lr": 0.01},
        "search": {"metric": "val_corr", "num_samples": 2, "asha": {"max_t": 4},
                   "resources": {"cpus": 1, "gpus": 0.25, "gpus_when": [WIDE]}},
    }


def _spec(raw):
    return parse_spec(raw, SCHEMAS, "demo", "demo.yaml")


def test_large_configurations_ask_tune_for_more_gpu(raw):
    spec = _spec(raw)
    request = wrap_function(trainable(spec)).default_resource_request  # what Tune reserves for this config
    for channels, gpus in ((4, 0.25), (11, 0.25), (12, 1.0), (16, 1.0)):
        config = {"data": spec.blocks["data"], "model": {"core": {"channels": channels}, "history_taus": "[]"},
                  "trainer": {"lr": 0.01}}
        assert request(config).required_resources == {"CPU": 1.0, "GPU": gpus}


def test_a_list_counts_by_its_largest_number(raw):
    raw["model"]["history_taus"] = {"choice": [[1.0, 2.0], [2.0, 8.0]]}
    raw["search"]["resources"]["gpus_when"] = [{"key": "model.history_taus", "at_least": 8, "gpus": 0.5}]
    resources = _spec(raw).settings.resources
    assert trial_gpus(resources, {"model": {"history_taus": [2.0, 8.0]}}) == 0.5
    assert trial_gpus(resources, {"model": {"history_taus": [1.0, 2.0]}}) == 0.25
    assert size_of([3, 9, 5]) == 9 and size_of(True) is None and size_of("wide") is None


@pytest.mark.parametrize("rule, message", [
    ({**WIDE, "key": "model.core.width"}, "search.resources.gpus_when[0].key: model.core.width is not set"),
    ({**WIDE, "key": "trainer.lr.x"}, "search.resources.gpus_when[0].key: trainer.lr.x is not set"),
    ({**WIDE, "gpus": 1.5}, "search.resources.gpus_when.0.gpus: more than one GPU must be a whole number"),
    ({"key": "model.core.channels", "gpus": 1}, "search.resources.gpus_when.0.at_least: Field required"),
])
def test_bad_rules_are_named(raw, rule, message):
    raw["search"]["resources"]["gpus_when"] = [rule]
    with pytest.raises(UserError, match="demo.yaml: " + message.replace("[", r"\[").replace("]", r"\]")):
        _spec(raw)


def test_a_rule_on_a_value_without_size_is_refused(raw):
    raw["search"]["resources"]["gpus_when"] = [{"key": "model.history_taus", "at_least": 1, "gpus": 1}]
    with pytest.raises(UserError, match=r"gpus_when\[0\].key: model.history_taus takes \[\]; expected a number"):
        _spec(raw)


def test_the_largest_request_must_fit_a_node():
    resources = Resources(cpus=1, gpus=0.5, gpus_when=[{"key": "model.x", "at_least": 1, "gpus": 2}])
    with pytest.raises(UserError, match="search.resources.gpus: a trial asks for 2 but no node offers more than 1"):
        check_resources(resources, [{"CPU": 8, "GPU": 1}])


def test_device_share_is_the_fractional_gpu_within_the_memory_cap(raw):
    resources = _spec(raw).settings.resources
    small, wide = {"model": {"core": {"channels": 4}}}, {"model": {"core": {"channels": 16}}}
    assert device_share(resources, small) == 0.25 and device_share(resources, wide) == 1.0
    capped = resources.model_copy(update={"gpu_memory_fraction": 0.4})
    assert device_share(capped, small) == 0.25 and device_share(capped, wide) == 0.4
    assert device_share(Resources(cpus=1), small) == 1.0     # no GPU asked for: the whole device (CPU)


def test_a_cluster_that_adds_nodes_waits_for_what_no_live_node_offers():
    resources = Resources(cpus=1, gpus=1)
    head = [{"CPU": 0.0}]
    assert wait_or_refuse(resources, [{"CPU": 8, "GPU": 1}], None) is None
    assert wait_or_refuse(resources, head, Growth(AUTOSCALER_SAYS)) == (
        "search waits for the cluster to add a node with 1 CPU, 1 GPU per trial (no live node offers that; "
        "the cluster's autoscaler adds nodes for waiting trials)")
    types = {"head_cpu": {"CPU": 0.0}, "worker_gpu": {"CPU": 8.0, "GPU": 1.0}}
    assert "1 CPU, 1 GPU per trial" in wait_or_refuse(resources, head, Growth(AUTOSCALER_SAYS, types))
    with pytest.raises(UserError, match=r"search.resources.gpus: a trial asks for 2 but no node type of the "
                                        r"cluster offers more than 1 \(node types head_cpu, worker_gpu\)$"):
        wait_or_refuse(Resources(cpus=1, gpus=2), head, Growth(AUTOSCALER_SAYS, types))


def test_a_cluster_that_does_not_grow_refuses_at_once_with_the_key_that_says_it_does():
    with pytest.raises(UserError, match=r"search.resources.cpus: a trial asks for 1 but no node offers more than 0 "
                                        r"\(1 node\(s\)\); if the cluster adds nodes for waiting work, set "
                                        r"search.resources.autoscaling: true$"):
        wait_or_refuse(Resources(cpus=1), [{"CPU": 0.0}], None)
    with pytest.raises(UserError, match=r"more than 0 \(1 node\(s\)\)$"):  # said false: no hint
        wait_or_refuse(Resources(cpus=1, autoscaling=False), [{"CPU": 0.0}], None)


def test_the_autoscaling_key_is_true_false_or_auto(raw):
    for value in (True, False, "auto"):
        raw["search"]["resources"]["autoscaling"] = value
        assert _spec(raw).settings.resources.autoscaling == value
    raw["search"]["resources"]["autoscaling"] = "sometimes"
    with pytest.raises(UserError, match=r"demo.yaml: search.resources.autoscaling"):
        _spec(raw)


def test_only_a_configured_autoscaler_counts_as_growth(tmp_path):
    node = "642c9201a5ee81f88684d1129807036ad0b4dd4ac4e2c90b4f564e85"
    assert configured_node_types({node: f"node_{node}"}) is None  # a head started without a config
    assert configured_node_types({node: ""}) is None and configured_node_types({}) is None
    assert configured_node_types({"127.0.0.2": "head_cpu", "127.0.0.3": "worker_gpu"}) == {"head_cpu", "worker_gpu"}
    config = tmp_path / "bootstrap.yaml"
    config.write_text("available_node_types:\n  head_cpu: {resources: {CPU: 0}}\n"
                      "  worker_gpu: {resources: {CPU: 8, GPU: 1}, max_workers: 8}\n")
    assert bootstrap_node_types(config) == {"head_cpu": {"CPU": 0.0}, "worker_gpu": {"CPU": 8.0, "GPU": 1.0}}
    config.write_text("available_node_types:\n  head_cpu: {resources: {CPU: 0}}\n  worker_gpu: {resources: {}}\n")
    assert bootstrap_node_types(config) == {} and bootstrap_node_types(tmp_path / "none.yaml") == {}
