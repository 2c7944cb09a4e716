"""A training trial in its own process, and what it holds in memory: the probe behind the shared-data test
and ``bench/scale.py``.

Memory is read from Linux's /proc: ``smaps_rollup`` for the whole process (RSS; PSS, which splits each
shared page between the processes mapping it; USS, the pages only this process holds) and ``smaps`` for
the mappings of the cache's files. RSS alone counts shared pages once per process and would make N trials
over one memory-mapped copy look like N copies.

Run as ``python bench/scale.py trial DATA CACHE --placement host --steps 20``, a trial loads the sessions
of DATA through the cache in CACHE, reads every cached array once (as a long search would), trains
``--steps`` optimiser steps, prints one JSON line (samples/s, its memory) and then waits for its stdin to
close, so a second trial can start and be measured beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

FIELDS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty")


def _sizes(lines: list[str]) -> dict[str, int]:
    """Bytes per smaps field (the files list kB)."""
    out = dict.fromkeys(FIELDS, 0)
    for line in lines:
        name, _, rest = line.partition(":")
        if name in out:
            out[name] += int(rest.split()[0]) * 1024
    return out


def process_memory(pid: int) -> dict[str, int]:
    """The process's RSS, PSS and USS (private pages) in bytes, from /proc/<pid>/smaps_rollup."""
    sizes = _sizes(Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines())
    return {"rss": sizes["Rss"], "pss": sizes["Pss"], "uss": sizes["Private_Clean"] + sizes["Private_Dirty"]}


def mapped_memory(pid: int, folder: Path) -> dict[str, int]:
    """RSS, PSS and private bytes of the process's mappings of files under ``folder`` (the cache)."""
    folder = str(Path(folder).resolve())
    lines, inside = [], False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):   # a mapping's header line
            inside = len(head) >= 6 and head[5].startswith(folder)
        elif inside:
            lines.append(line)
    sizes = _sizes(lines)
    return {"rss": sizes["Rss"], "pss": sizes["Pss"], "private": sizes["Private_Clean"] + sizes["Private_Dirty"]}


def peak_rss(pid: int) -> int:
    """The process's peak RSS (VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"/proc/{pid}/status: no VmHWM line")


def touch(sessions) -> None:
    """Read every page of the sessions' large arrays, as an epoch over all trials would."""
    for session in sessions:
        for name in ("stimuli", "responses", "behavior", "pupil_center"):
            array = getattr(session, name)
            for start in range(0, len(array), 16):
                float(np.asarray(array[start:start + 16]).sum())


def run_trial(sessions: list, cache: Path, placement: str, steps: int, batch_size: int, model_cfg: dict,
              clip_frames: int) -> dict:
    """Touch all data, train ``steps`` steps on the first train trials; samples/s and memory. The caller
    keeps ``sessions`` alive (their memory maps close with them)."""
    import torch

    from sensorium_models.models import build_model
    from sensorium_models.training import train

    torch.manual_seed(0)
    pid = os.getpid()
    before = process_memory(pid)
    touch(sessions)
    touched = process_memory(pid)
    video = sessions[0].kind == "video"
    per_session = steps * batch_size   # train trials per session that make `steps` cycles of one batch each
    subset = []
    for s in sessions:
        roles = np.full(s.n_trials, "skip", dtype="<U10")
        train_trials = s.indices("train")[:per_session]
        roles[train_trials] = "train"
        roles[s.indices("validation")[:1]] = "validation"   # one whole trial: the epoch is mostly training
        subset.append(s.with_roles(roles))
    model = build_model(subset, model_cfg, 0)
    cfg = {"batch_size": batch_size, "max_epochs": 1, "device": "auto", "clip_frames": clip_frames}
    started = time.perf_counter()
    result = train(model, subset, cfg, 0, placement=placement)
    seconds = time.perf_counter() - started
    samples = sum(len(s.indices("train")) for s in subset)
    return {"placement": placement, "samples": samples, "seconds": seconds, "samples_per_s": samples / seconds,
            "epoch_seconds": result.history[-1]["epoch_seconds"], "video": video,
            "memory_loaded": before, "memory_touched": touched, "memory": process_memory(pid),
            "mapped": mapped_memory(pid, cache),
            "peak_rss": peak_rss(pid), "pid": pid}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("cache", type=Path)
    parser.add_argument("--placement", default="host", choices=["host", "device"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--clip-frames", type=int, default=60)
    parser.add_argument("--model", default="{}", help="the model block, as JSON")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    from sensorium_models.data import load_sessions

    torch.set_num_threads(args.threads)
    sessions = load_sessions({"paths": [str(args.data)], "cache_dir": str(args.cache)})
    report = run_trial(sessions, args.cache, args.placement, args.steps, args.batch_size,
                       json.loads(args.model), args.clip_frames)
    print(json.dumps(report), flush=True)
    sys.stdin.read()   # stay alive (holding the data) until the caller closes our stdin
