"""``trainer.amp: auto``: bf16 autocast on CUDA GPUs with bf16 and on CPUs with AMX, fp32 elsewhere, said aloud."""
from __future__ import annotations

import pytest
import torch

from sensorium_models import precision
from sensorium_models.errors import UserError
from sensorium_models.precision import choose_amp, cpu_has_amx
from sensorium_models.training import trainer_config, train
from training_builders import TinyModel, fast_trainer, learnable_static_session, without_timing

FAST = fast_trainer(max_epochs=2)
CPU = torch.device("cpu")


def _train(amp):
    sessions = [learnable_static_session("a", seed=1)]
    result = train(TinyModel(sessions), sessions, {**FAST, "amp": amp}, seed=0)
    return without_timing(result.history)


@pytest.mark.parametrize("flags, has_amx", [("fpu avx512f amx_bf16 amx_tile amx_int8", True),
                                            ("fpu avx2 avx512f avx512_bf16", False)])
def test_amx_is_read_from_the_cpu_flags(tmp_path, monkeypatch, flags, has_amx):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo)
    assert cpu_has_amx() is has_amx
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "absent")
    assert cpu_has_amx() is False


def test_auto_on_this_machine_trains_as_its_choice_does_and_says_which(capsys):
    amx = cpu_has_amx()
    assert choose_amp("auto", CPU) == (amx, f"CPU {'with' if amx else 'without'} AMX")
    auto = _train("auto")
    said = capsys.readouterr().out
    assert f"trainer.amp auto: {'bf16 autocast' if amx else 'fp32'} (CPU {'with' if amx else 'without'} AMX)" in said
    assert auto == _train(amx)


@pytest.mark.parametrize("amx", [True, False])
def test_auto_with_amx_forced_either_way_trains_as_that_precision(monkeypatch, capsys, amx):
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: amx)
    auto = _train("auto")
    assert f"trainer.amp auto: {'bf16 autocast' if amx else 'fp32'} (CPU" in capsys.readouterr().out
    assert auto == _train(amx) and auto != _train(not amx)


@pytest.mark.parametrize("bf16", [True, False])
def test_auto_on_a_cuda_gpu_follows_its_bf16_support(monkeypatch, bf16):
    monkeypatch.setattr(precision, "gpu_has_bf16", lambda: bf16)
    assert choose_amp("auto", torch.device("cuda")) == (bf16, f"CUDA GPU {'with' if bf16 else 'without'} bf16 support")


def test_true_and_false_are_taken_as_they_are_and_other_words_refused(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: False)
    assert choose_amp(True, CPU)[0] is True and choose_amp(False, torch.device("cuda"))[0] is False
    assert trainer_config({"amp": "auto"}).amp == "auto"
    with pytest.raises(UserError, match="amp"):
        trainer_config({"amp": "fast"})
