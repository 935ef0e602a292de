"""Trainer scale options: learning-rate rules, iterations per epoch, and per-rank data shards."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from harness.registry import SCHEDULES
from harness.training.distributed import DistInfo
from harness.training.trainer import Trainer, iters_per_epoch, lr_scale


def test_lr_rules():
    assert lr_scale("none", 8, 1) == 1.0
    assert lr_scale("linear", 8, 1) == 8.0
    assert math.isclose(lr_scale("sqrt", 8, 2), 2.0)


def test_iterations_per_epoch_count_items_over_the_global_batch():
    smoke = SCHEDULES.get("smoke")  # at most 3 items per epoch
    assert iters_per_epoch(48, smoke) == 3
    assert iters_per_epoch(48, smoke, batch_size=2) == 1
    paper = SCHEDULES.get("paper")
    assert iters_per_epoch(1334, paper, batch_size=4, world_size=2) == 1334 // 8


@pytest.mark.parametrize("world,batch", [(1, 1), (2, 1), (2, 3), (3, 2)])
def test_rank_shards_are_disjoint_and_cover_each_global_batch(world, batch):
    schedule = SCHEDULES.get("paper")
    shards = []
    for rank in range(world):
        trainer = Trainer.__new__(Trainer)  # only the data-order fields matter here
        trainer.batch_size, trainer.seed, trainer.paired = batch, 5, False
        trainer.dist = DistInfo(rank, world)
        trainer.dataset = SimpleNamespace(a=list(range(30)), b=list(range(20)))
        trainer.iters_per_epoch = iters_per_epoch(30, schedule, batch, world)
        trainer.schedule = schedule
        shards.append(trainer._batches(epoch=1, start_iter=0))
    for i in range(len(shards[0])):
        items = [item for rank in range(world) for item in shards[rank][i]]
        assert all(len(shards[rank][i]) == batch for rank in range(world))
        assert len(set(items)) == world * batch  # no item twice within a global batch
    flat = [item for shard in shards for b in shard for item in b]
    assert len(set(flat)) == len(flat) == (30 // (world * batch)) * world * batch
