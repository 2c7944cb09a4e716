"""``search status``'s concentration line: the discrete key whose commonest recent value stands out most."""
import re

from search.concentration import concentration
from search.space import Distribution

SEARCHED = {("model", "layers"): Distribution("int", (1, 3)),
            ("model", "hidden_channels"): Distribution("choice", (4, 8, 16)),
            ("trainer", "batch_size"): Distribution("choice", (32, 64)),
            ("trainer", "lr_init"): Distribution("loguniform", (1e-4, 3e-2))}


def proposals(layers: list[int]) -> list[dict]:
    return [{"model.layers": n, "model.hidden_channels": [4, 8, 16][i % 3], "trainer.batch_size": [32, 64][i % 2],
             "trainer.lr_init": 0.001 * (i + 1)} for i, n in enumerate(layers)]


def test_a_trapped_search_shows_its_repeated_value():
    rows = proposals([1, 2, 3, 2, 3] + [1] * 9 + [2])
    found = concentration(rows, SEARCHED)
    assert found.line == "last 10 proposals: model.layers=1 in 9 (of 3 options)" and found.share == 0.9


def test_a_spread_search_names_no_more_than_chance_and_a_young_one_nothing():
    line = concentration(proposals([1, 2, 3] * 4), SEARCHED).line
    assert re.fullmatch(r"last 10 proposals: model\.(layers|hidden_channels)=\d+ in 4 \(of 3 options\)", line)
    assert concentration(proposals([1] * 9), SEARCHED) is None
