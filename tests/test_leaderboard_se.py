"""Single-run closeness and significance use each value's standard error (`se`), not the printed std."""
from __future__ import annotations

from harness.leaderboard import stats
from harness.leaderboard.annotate import SE_NOTE, SE_SHOWN_NOTE, se_notes, with_se_shown
from harness.leaderboard.table import BuiltRow, BuiltTable
from harness.leaderboard.specs import ColumnSpec, RowSpec, TableSpec


def single(value: float, std: float, se: float | None) -> stats.Cell:
    return stats.from_runs([value], [std], std_kinds=["bootstrap_images"], ses=[se])


def test_wide_std_no_longer_makes_distinct_runs_close():
    # bootstrap stds of 20 overlap, but the calibrated se (1.0 each) says 10 apart is a real difference
    best, other = single(5.0, 20.0, 1.0), single(15.0, 20.0, 1.0)
    stats.rank([best, other], lower_is_better=True, decimals=2)
    assert best.bold and not other.close
    assert best.significant and best.p_value < 1e-6


def test_runs_within_their_se_are_close_and_not_significant():
    best, other = single(5.0, 0.1, 1.0), single(6.0, 0.1, 1.0)  # narrow std: the old rule said "not close"
    stats.rank([best, other], lower_is_better=True, decimals=2)
    assert other.close and not best.significant and best.p_value > 0.05


def test_results_without_se_keep_the_interval_overlap_rule():
    best, other = single(5.0, 1.0, None), single(6.5, 1.0, None)
    stats.rank([best, other], lower_is_better=True, decimals=2)
    assert other.close and not best.significant and best.p_value is None


def test_seeds_against_a_single_run_use_the_standard_error_of_the_seed_mean():
    seeds = stats.from_runs([5.0, 5.2, 4.8, 5.0], [None] * 4, seeds=[1, 2, 3, 4])
    assert seeds.se == seeds.std / 2
    other = single(9.0, 30.0, 0.5)
    stats.rank([seeds, other], lower_is_better=True, decimals=2)
    assert not other.close and seeds.significant


def _table(cells: list[stats.Cell]) -> BuiltTable:
    spec = TableSpec(name="t", title="t", columns=(ColumnSpec(task="demo", direction="a", metric="target_kid"),))
    rows = [BuiltRow(RowSpec(method=f"m{i}"), False, [stats.Cell()], [c]) for i, c in enumerate(cells)]
    return BuiltTable(spec, rows)


def test_show_se_swaps_the_plus_minus_of_single_runs_only_and_says_so():
    seeds = stats.from_runs([1.0, 2.0], [None, None], seeds=[1, 2])
    table = _table([single(5.0, 20.0, 1.5), seeds])
    assert se_notes(table) == [SE_NOTE]
    shown = with_se_shown(table)
    assert shown.rows[0].reproduced[0].std == 1.5 and shown.rows[0].reproduced[0].std_kind == "se"
    assert shown.rows[1].reproduced[0].std == seeds.std  # over seeds the ± stays the std (n=k)
    assert table.rows[0].reproduced[0].std == 20.0  # the original is untouched
    assert SE_SHOWN_NOTE in shown.notes
