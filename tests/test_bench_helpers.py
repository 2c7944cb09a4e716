"""The benchmarks' shared helpers: epoch counting to a target, tables, atomic result files, script discovery."""
from bench.common import header, table, write_result
from bench.run_all import benchmark_scripts
from bench.search_budget import PEERS, reached_within, verdict
from bench.search_peers import SHIPPED
from bench.tune_runs import epochs_until, trial_order


def test_epochs_until_counts_every_epoch_spent_in_the_order_spent():
    spent = [0.1, 0.2, 0.25] + [0.05] + [0.2, 0.31, 0.4]  # e.g. three trials, one after the other
    assert epochs_until(spent, 0.25) == 3
    assert epochs_until(spent, 0.3) == 3 + 1 + 2
    assert epochs_until(spent, 0.5) is None
    assert epochs_until([], 0.1) is None


def test_a_budget_counts_searches_that_got_there_in_time_and_flags_ones_that_ran_out_of_trials_first():
    runs = [{"to_target": 20, "spent": 64}, {"to_target": 50, "spent": 64}, {"to_target": None, "spent": 64}]
    assert [reached_within(runs, budget) for budget in (16, 32, 64)] == ["0%", "33%", "67%"]
    short = [*runs[:2], {"to_target": None, "spent": 40}]  # 40 epochs spent in all, none reaching the target
    assert [reached_within(short, budget) for budget in (32, 64)] == ["33%", ">=67%"]


def test_the_scorecard_reads_the_goal_and_calls_a_tie_on_share_for_the_fewer_epochs():
    def searches(*epochs):
        return [{"to_target": e, "spent": 640} for e in epochs]

    shipped, peer = searches(100, 200, 300, None), searches(150, 250, 350, None)  # 75 % each; medians 250, 300
    row = verdict("grid", {SHIPPED: shipped, PEERS[1]: peer}, 640, reference=1000)
    assert row == ["grid", "75%", "no", "25%", "yes", f"{PEERS[1]}: 75%", "yes"]
    assert verdict("grid", {SHIPPED: peer, PEERS[1]: shipped}, 640, reference=800)[3:] == \
        ["38%", "no", f"{PEERS[1]}: 75%", "no"]
    assert verdict("grid", {PEERS[1]: peer}, 640, reference=1000) is None  # no shipped searches, no row


def test_trial_order_reads_tunes_creation_counter_from_the_experiment_tag():
    assert trial_order({"experiment_tag": "12_model.layers=3"}) == 12
    assert trial_order({}) > trial_order({"experiment_tag": "999_x"})


def test_table_and_atomic_write(tmp_path):
    text = header("Title", ("numpy",)) + table(["a", "b"], [[1, 0.123456], ["x", 2.0]])
    assert text.startswith("# Title\n") and "numpy " in text and "GPU:" in text
    assert "| 1 | 0.1235 |" in text and "| x | 2 |" in text
    target = write_result("example", text, folder=tmp_path)
    assert target == tmp_path / "example.md" and target.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["example.md"]  # no temporary left behind


def test_run_all_finds_the_benchmark_scripts_but_not_helpers():
    names = [p.stem for p in benchmark_scripts()]
    assert {"train_speed", "search_efficiency", "ground_truth"} <= set(names)
    assert not {"common", "tune_runs", "run_all"} & set(names)
    assert names.index("train_speed") < names.index("search_efficiency") < names.index("ground_truth")
