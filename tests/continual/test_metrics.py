"""Continual-learning metrics: hand-computed values, the published implementations, edge cases, CIs.

The small example: 3 tasks, 2 seeds, 100 steps per task, an evaluation every 50 steps (two per task
window, the second at the task's end), so the matrix p[k, i] is the curves at steps 100, 200, 300.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offrl.errors import ConfigError
from offrl.evaluation import continual as cl
from offrl.evaluation import stats

STEPS = np.array([0, 50, 100, 150, 200, 250, 300])
BOUNDS = np.array([0, 100, 200, 300])
TASKS = ["slow", "medium", "fast"]
# curves[seed, step, task]; rows at 100/200/300 are the matrix, the row at 0 the initial scores
CURVES = np.array([
    [[5, 15, 10], [60, 12, 18], [80, 10, 20], [70, 40, 25], [50, 70, 30], [44, 62, 70], [40, 60, 90]],
    [[0, 10, 20], [40, 14, 12], [60, 20, 10], [64, 50, 30], [60, 80, 40], [36, 56, 50], [30, 50, 70]],
], dtype=float)
MATRIX = CURVES[:, [2, 4, 6], :]
INITIAL = CURVES[:, 0, :]
# the reference run (every task from scratch): only each task's own window and column matters
REF_CURVES = np.full((2, 7, 3), 33.0)
REF_CURVES[0, 1:3, 0], REF_CURVES[0, 3:5, 1], REF_CURVES[0, 5:7, 2] = [55, 65], [40, 60], [45, 55]
REF_CURVES[1, 1:3, 0], REF_CURVES[1, 3:5, 1], REF_CURVES[1, 5:7, 2] = [30, 50], [50, 50], [60, 80]


def test_matrix_metrics_by_hand():
    assert MATRIX[0].tolist() == [[80, 10, 20], [50, 70, 30], [40, 60, 90]]
    # PER: seed 0 (40+60+90)/3, seed 1 (30+50+70)/3
    np.testing.assert_allclose(cl.average_performance(MATRIX), [190 / 3, 50.0])
    # BWT: seed 0 ((40-80)+(60-70))/2 = -25, seed 1 ((30-60)+(50-80))/2 = -30
    np.testing.assert_allclose(cl.backward_transfer(MATRIX), [-25.0, -30.0])
    np.testing.assert_allclose(cl.forgetting_per_task(MATRIX), [[40, 10], [30, 30]])
    np.testing.assert_allclose(cl.forgetting(MATRIX), [25.0, 30.0])
    # Continual World's averaging over all 3 columns (the last one is 0)
    np.testing.assert_allclose(cl.forgetting(MATRIX, include_last_task=True), [50 / 3, 20.0])
    # GEM FWT: seed 0 ((10-15)+(30-10))/2 = 7.5, seed 1 ((20-10)+(40-20))/2 = 15
    np.testing.assert_allclose(cl.forward_transfer_gem(MATRIX, INITIAL), [7.5, 15.0])
    # no seed axis, and extra leading axes
    assert cl.backward_transfer(MATRIX[1]) == pytest.approx(-30.0)
    assert cl.average_performance(np.stack([MATRIX, MATRIX])).shape == (2, 2)


def test_curve_metrics_by_hand():
    assert cl.task_of_eval(STEPS, BOUNDS).tolist() == [-1, 0, 0, 1, 1, 2, 2]
    assert cl.task_of_eval([0, 100, 101, 300, 350], BOUNDS).tolist() == [-1, 0, 1, 2, -1]
    pw = cl.window_matrix(CURVES, STEPS, BOUNDS)  # both evaluations of each window (CW: up to 5)
    np.testing.assert_allclose(pw[0], [[70, 11, 19], [60, 55, 27.5], [42, 61, 80]])
    np.testing.assert_allclose(pw[1], [[50, 17, 11], [62, 65, 35], [33, 53, 60]])
    np.testing.assert_allclose(cl.window_matrix(CURVES, STEPS, BOUNDS, last_n=1), MATRIX)
    # forgetting on the window means: seed 0 (70-42, 55-61) -> 11, seed 1 (50-33, 65-53) -> 14.5
    np.testing.assert_allclose(cl.forgetting(pw), [11.0, 14.5])
    # AUC of each task's own window, /100
    np.testing.assert_allclose(cl.task_auc(CURVES, STEPS, BOUNDS), [[0.70, 0.55, 0.80], [0.50, 0.65, 0.60]])
    # anytime AP, seed 0: points 60, 80, (70+40)/2, (50+70)/2, (44+62+70)/3, (40+60+90)/3
    ap0 = (60 + 80 + 55 + 60 + 176 / 3 + 190 / 3) / 6
    ap1 = (40 + 60 + 57 + 70 + 142 / 3 + 50) / 6
    np.testing.assert_allclose(cl.anytime_average_performance(CURVES, STEPS, BOUNDS), [ap0, ap1])
    assert ap0 == pytest.approx(377 / 6) and ap1 == pytest.approx(973 / 18)


def test_forward_transfer_against_reference_by_hand():
    auc = cl.task_auc(CURVES, STEPS, BOUNDS)
    ref = cl.task_auc(REF_CURVES, STEPS, BOUNDS)
    np.testing.assert_allclose(ref, [[0.6, 0.5, 0.5], [0.4, 0.5, 0.7]])
    # seed means: run [0.6, 0.6, 0.7], reference [0.5, 0.5, 0.6]
    np.testing.assert_allclose(cl.forward_transfer_per_task(auc, ref), [0.2, 0.2, 0.25])
    assert cl.forward_transfer(auc, ref) == pytest.approx(0.65 / 3)
    # one seed each (1-D), and a reference at the expert score leaves FT_i undefined
    assert cl.forward_transfer(auc[0], ref[0]) == pytest.approx(np.mean([0.25, 0.1, 0.6]))
    top = ref.copy()
    top[:, 2] = 1.0
    assert np.isnan(cl.forward_transfer_per_task(auc, top)[2]) and np.isnan(cl.forward_transfer(auc, top))
    # a reference above the expert on some resamples only: the value stands, the interval does not
    high = np.array([[0.5, 0.9], [0.5, 1.05], [0.5, 0.95]])  # task 1's mean 0.967 < 1, one seed above 1
    est = cl.forward_transfer_interval(np.array([[0.6, 0.8]] * 2), high, reps=2000)
    assert est.defined and np.isnan(est.lower) and np.isnan(est.upper)
    assert est.format() == f"{est.point:.2f} [–]"


def test_per_seed_metrics_bundle():
    m = cl.per_seed_metrics(MATRIX, initial=INITIAL, curves=CURVES, eval_steps=STEPS, task_boundaries=BOUNDS)
    assert set(m) == {"per", "bwt", "forgetting", "fwt_gem", "anytime"}
    np.testing.assert_allclose(m["forgetting"], [11.0, 14.5])  # window means by default
    np.testing.assert_allclose(cl.per_seed_metrics(MATRIX)["forgetting"], [25.0, 30.0])
    one = cl.per_seed_metrics(MATRIX, curves=CURVES, eval_steps=STEPS, task_boundaries=BOUNDS, last_n=1)
    np.testing.assert_allclose(one["forgetting"], [25.0, 30.0])


# --------------------------------------------------------------------------------------------------
# The published implementations, followed literally
# --------------------------------------------------------------------------------------------------


class _AvalancheStreamForgetting:
    """avalanche/evaluation/metrics/forgetting_bwt.py (ContinualAI/avalanche@eb075be3): ``Forgetting``
    (initial/last dicts, ``result_key``), ``GenericStreamForgetting.after_eval_exp`` and
    ``before_eval`` (``reset_last`` and the stream ``Mean`` reset), ``before_training_exp``."""

    def __init__(self):
        self.initial, self.last = {}, {}
        self.train_exp_id = None
        self.sum = self.weight = 0.0

    def before_training_exp(self, k):
        self.train_exp_id = k

    def before_eval(self):
        self.last = {}
        self.sum = self.weight = 0.0

    def after_eval_exp(self, eval_exp_id, value):
        if self.train_exp_id == eval_exp_id:
            self.initial[eval_exp_id] = value
        else:
            self.last[eval_exp_id] = value
        if eval_exp_id in self.initial and eval_exp_id in self.last:
            self.sum += self.initial[eval_exp_id] - self.last[eval_exp_id]
            self.weight += 1

    def result(self):
        return self.sum / self.weight if self.weight else 0.0  # avalanche Mean.result


class _AvalancheStreamForwardTransfer:
    """avalanche/evaluation/metrics/forward_transfer.py: ``ForwardTransfer`` (initial/previous) and
    ``GenericStreamForwardTransfer.after_eval_exp`` / ``after_eval`` (``at_init``)."""

    def __init__(self):
        self.initial, self.previous = {}, {}
        self.train_exp_id = None
        self.at_init = True
        self.sum = self.weight = 0.0

    def before_training_exp(self, k):
        self.train_exp_id = k

    def before_eval(self):
        self.sum = self.weight = 0.0

    def after_eval_exp(self, eval_exp_id, value):
        if self.at_init:
            self.initial[eval_exp_id] = value
        else:
            if self.train_exp_id == eval_exp_id - 1:
                self.previous[eval_exp_id] = value
            if eval_exp_id in self.previous:
                self.sum += self.previous[eval_exp_id] - self.initial[eval_exp_id]
                self.weight += 1

    def after_eval(self):
        self.at_init = False

    def result(self):
        return self.sum / self.weight if self.weight else 0.0


def _avalanche(matrix: np.ndarray, initial: np.ndarray) -> tuple[float, float]:
    """Run both plugins through a stream: an evaluation of every experience before training (needed
    by forward transfer) and after each training experience. Returns (stream forgetting, FWT)."""
    forg, fwt = _AvalancheStreamForgetting(), _AvalancheStreamForwardTransfer()
    n = len(initial)
    fwt.before_eval()
    for j in range(n):
        fwt.after_eval_exp(j, initial[j])
    fwt.after_eval()
    for k in range(n):
        for m in (forg, fwt):
            m.before_training_exp(k)
            m.before_eval()
        for j in range(n):
            forg.after_eval_exp(j, matrix[k, j])
            fwt.after_eval_exp(j, matrix[k, j])
        fwt.after_eval()
    return forg.result(), fwt.result()


def test_agrees_with_avalanche():
    rng = np.random.default_rng(1)
    for matrix, initial in [(MATRIX, INITIAL), (rng.uniform(0, 100, (3, 5, 5)), rng.uniform(0, 20, (3, 5)))]:
        for s in range(len(matrix)):
            forgetting, fwt = _avalanche(matrix[s], initial[s])
            assert cl.forgetting(matrix[s]) == pytest.approx(forgetting)
            assert cl.backward_transfer(matrix[s]) == pytest.approx(-forgetting)  # StreamBWT
            assert cl.forward_transfer_gem(matrix[s], initial[s]) == pytest.approx(fwt)
    # the same numbers as by hand
    assert [_avalanche(MATRIX[s], INITIAL[s]) for s in range(2)] == [(25.0, 7.5), (30.0, 15.0)]


def _cw_frame(curves, steps, bounds, tasks, name):
    """Our curves as Continual World's progress logs: a row per evaluation during training
    (``train/active_env``), success columns ``test/stochastic/<i>/<task>/success`` on [0, 1]."""
    k_of = cl.task_of_eval(steps, bounds)
    rows = []
    for s in range(curves.shape[0]):
        for t, step in enumerate(steps):
            if k_of[t] < 0:
                continue  # Continual World logs only while training
            row = {"x": step, "train/active_env": k_of[t], "experiment_id": f"{name}-{s}", "cl_method": name,
                   "steps_per_task": bounds[1] - bounds[0]}
            row.update({f"test/stochastic/{i}/{task}/success": curves[s, t, i] / 100 for i, task in enumerate(tasks)})
            rows.append(row)
    return pd.DataFrame(rows)


def _cw_baseline_frame(curves, steps, bounds, tasks):
    """A from-scratch reference run as Continual World's single-task runs: one experiment per
    (task, seed), its task's success in ``test/stochastic/0/<task>/success``."""
    k_of = cl.task_of_eval(steps, bounds)
    rows = []
    for s in range(curves.shape[0]):
        for i, task in enumerate(tasks):
            for t in np.flatnonzero(k_of == i):
                rows.append({"x": steps[t] - bounds[i], "task": task, "experiment_id": f"single-{task}-{s}",
                             f"test/stochastic/0/{task}/success": curves[s, t, i] / 100})
    return pd.DataFrame(rows)


# continualworld/results_processing/tables.py (awarelab/continual_world@73f63bb4), followed literally


def _cw_calculate_data_at_the_end(data, index_columns):  # calculate_data_at_the_end
    data_at_the_end = data.copy().sort_values(by=["x"])
    data_at_the_end = data_at_the_end.groupby(index_columns).tail(5)
    data_at_the_end = data_at_the_end.groupby(index_columns).mean()
    columns = data.columns[data.columns.str.contains("test/stochastic/.*/success", regex=True)]
    return data_at_the_end[columns]


def _cw_calculate_forgetting_individual(data, columns_to_add=("cl_method",)):  # calculate_forgetting_individual
    index_columns = list(columns_to_add) + ["experiment_id"]
    data_at_the_end = _cw_calculate_data_at_the_end(data, index_columns)
    partial_data = []
    for env in sorted(data["train/active_env"].unique()):
        env = int(env)
        env_indices = data["train/active_env"] == env
        current_col = data.columns[data.columns.str.contains(f"test/stochastic/{env}/.*/success")][0]
        env_data = data.loc[env_indices, [current_col, "x", "train/active_env"] + index_columns]
        env_data = env_data.sort_values(by=["x"])
        env_data = env_data.groupby(index_columns).tail(5)
        env_data = env_data.groupby(index_columns).mean()
        partial_data.append(env_data)
    success_rate_of_active_env = pd.concat(partial_data).groupby(index_columns).max()
    success_rate_of_active_env = success_rate_of_active_env.drop(["x", "train/active_env"], axis=1)
    return data_at_the_end, success_rate_of_active_env, success_rate_of_active_env - data_at_the_end


def _cw_normalized_ft(x, y, a):  # normalized_ft
    return (np.mean(x, axis=a) - np.mean(y, axis=a)) / (1 - np.mean(y, axis=a))


def _cw_total_normalized_ft(data, baseline_data):  # calculate_forward_transfer, up to total_normalized_ft
    data = data.copy()
    task_cols = data.columns[data.columns.str.contains("test/stochastic/.*/success", regex=True)]
    task_num_to_name = {int(c.split("/")[2]): c.split("/")[3] for c in task_cols}
    steps_per_task = int(data.steps_per_task.unique()[0])
    long_baseline = []
    for env in sorted(data["train/active_env"].unique()):
        env = int(env)
        env_name = task_num_to_name[env]
        current_baseline = baseline_data[baseline_data["task"] == env_name].copy()
        current_baseline["current_success"] = current_baseline[f"test/stochastic/0/{env_name}/success"]
        current_baseline["x"] += env * steps_per_task
        current_baseline["train/active_env"] = env
        long_baseline += [current_baseline]
        env_indices = data["train/active_env"] == env
        current_col = data.columns[data.columns.str.contains(f"test/stochastic/{env}/.*/success", regex=True)][0]
        data.loc[env_indices, "current_success"] = data.loc[env_indices, current_col]
    long_baseline = pd.concat(long_baseline)
    data = (data.drop("x", axis=1).groupby(["train/active_env", "experiment_id"])["current_success"]
            .mean().reset_index())
    long_baseline = (long_baseline.drop("x", axis=1).groupby(["train/active_env", "experiment_id"])["current_success"]
                     .mean().reset_index())
    X = data.pivot(index="experiment_id", columns="train/active_env", values="current_success").to_numpy()
    Y = long_baseline.pivot(index="experiment_id", columns="train/active_env",
                            values="current_success").reset_index(drop=True)
    Y = pd.DataFrame({c: Y[c].dropna().values for c in Y.columns}).to_numpy()
    # BootstrapCI.original_data_metrics["normalized_ft"]["[0:T]"] (_apply_statistics on the data)
    volume_x, volume_y = np.expand_dims(X, axis=0), np.expand_dims(Y, axis=0)
    return np.mean([_cw_normalized_ft(volume_x[..., i], volume_y[..., i], 1).flatten()
                    for i in range(X.shape[1])], axis=0).item()


def test_agrees_with_continual_world():
    """Forgetting and performance on random curves with 6 evaluations per task (Continual World's
    5-evaluation ends then lie inside the windows), forward transfer on those and on the small
    example (the window means there are the hand-computed 0.65 / 3)."""
    rng = np.random.default_rng(0)
    n, per_window = 4, 6
    steps = np.arange(0, n * 120 + 1, 20)  # 20-step evaluations, 120 steps per task
    bounds = np.arange(n + 1) * 120
    tasks = [f"task{i}" for i in range(n)]
    curves = rng.uniform(0, 100, (3, len(steps), n))
    ref = rng.uniform(0, 90, (2, len(steps), n))
    assert np.all(np.bincount(cl.task_of_eval(steps, bounds)[1:]) == per_window)
    data = _cw_frame(curves, steps, bounds, tasks, "finetuning")
    at_end, own, individual = _cw_calculate_forgetting_individual(data)
    ours = cl.window_matrix(curves, steps, bounds)  # last_n = CW_WINDOW = 5
    # per task and per seed: both sides, then the forgetting
    np.testing.assert_allclose(100 * own.to_numpy(), np.diagonal(ours, axis1=-2, axis2=-1))
    np.testing.assert_allclose(100 * at_end.to_numpy(), ours[:, -1, :])
    np.testing.assert_allclose(100 * individual.to_numpy()[:, :-1], cl.forgetting_per_task(ours))
    # calculate_metrics: compute_mean_and_ci's point = mean over seeds of the mean over task columns
    cw_forgetting = individual.mean(axis=1).mean()
    assert 100 * cw_forgetting == pytest.approx(cl.forgetting(ours, include_last_task=True).mean())
    assert cl.forgetting(ours).mean() == pytest.approx(100 * cw_forgetting * n / (n - 1))
    assert 100 * at_end.mean(axis=1).mean() == pytest.approx(cl.average_performance(ours).mean())
    baseline = _cw_baseline_frame(ref, steps, bounds, tasks)
    cw_ft = _cw_total_normalized_ft(data, baseline)
    ours_ft = cl.forward_transfer(cl.task_auc(curves, steps, bounds), cl.task_auc(ref, steps, bounds))
    assert cw_ft == pytest.approx(ours_ft)
    small = _cw_total_normalized_ft(_cw_frame(CURVES, STEPS, BOUNDS, TASKS, "ft"),
                                    _cw_baseline_frame(REF_CURVES, STEPS, BOUNDS, TASKS))
    assert small == pytest.approx(0.65 / 3)


# --------------------------------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------------------------------


def test_one_task_stream():
    matrix = np.array([[[70.0]], [[50.0]]])
    curves = np.array([[[5.0], [40.0], [70.0]], [[0.0], [30.0], [50.0]]])
    steps, bounds = [0, 50, 100], [0, 100]
    # no earlier task: BWT, forgetting and zero-shot FWT are undefined (NaN), PER and AP are not
    assert np.isnan(cl.backward_transfer(matrix)).all() and cl.backward_transfer(matrix).shape == (2,)
    assert np.isnan(cl.forgetting(matrix)).all()
    assert cl.forgetting_per_task(matrix).shape == (2, 0)
    np.testing.assert_array_equal(cl.forgetting(matrix, include_last_task=True), [0.0, 0.0])  # CW's 0
    assert np.isnan(cl.forward_transfer_gem(matrix, curves[:, 0])).all()
    np.testing.assert_allclose(cl.average_performance(matrix), [70, 50])
    np.testing.assert_allclose(cl.anytime_average_performance(curves, steps, bounds), [55, 40])
    auc = cl.task_auc(curves, steps, bounds)
    assert cl.forward_transfer(auc, auc * 0.5) > 0
    assert not cl.seed_interval(cl.backward_transfer(matrix)).defined
    assert cl.seed_interval(cl.backward_transfer(matrix)).format() == "–"


def test_nans_in_curves():
    curves = CURVES.copy()
    curves[0, 2, 0] = np.nan  # seed 0 misses the end-of-task-0 evaluation of task 0
    pw = cl.window_matrix(curves, STEPS, BOUNDS)
    assert pw[0, 0, 0] == 60.0  # the window's other evaluation
    assert np.isnan(cl.window_matrix(curves, STEPS, BOUNDS, last_n=1)[0, 0, 0])
    assert cl.task_auc(curves, STEPS, BOUNDS)[0, 0] == pytest.approx(0.6)
    # anytime AP skips the point where a seen task is missing: seed 0 loses the point at step 100
    ap = cl.anytime_average_performance(curves, STEPS, BOUNDS)
    assert ap[0] == pytest.approx((60 + 55 + 60 + 176 / 3 + 190 / 3) / 5)
    assert ap[1] == pytest.approx(973 / 18)
    # a missing score of a task not yet seen does not matter
    unseen = CURVES.copy()
    unseen[:, 1, 2] = np.nan
    np.testing.assert_allclose(cl.anytime_average_performance(unseen, STEPS, BOUNDS), [377 / 6, 973 / 18])
    # a window without any evaluation: NaN row, and forgetting of that seed undefined
    empty = CURVES.copy()
    empty[1, 3:5, :] = np.nan
    pw = cl.window_matrix(empty, STEPS, BOUNDS)
    assert np.isnan(pw[1, 1]).all() and not np.isnan(pw[0, 1]).any()
    f = cl.forgetting(pw)
    assert f[0] == pytest.approx(11.0) and np.isnan(f[1])
    # a seed whose record stops inside a window (a killed run) has not finished it: no window means, AUC or
    # anytime AP from a part of the window, while the other seed keeps its values
    killed = CURVES.copy()
    killed[0, 6:, :] = np.nan  # seed 0 stops after step 250, inside the last window (200, 300]
    np.testing.assert_array_equal(cl.finished_windows(killed, STEPS, BOUNDS), [[True, True, False], [True, True, True]])
    pw = cl.window_matrix(killed, STEPS, BOUNDS)
    assert np.isnan(pw[0, 2]).all() and not np.isnan(pw[0, :2]).any()
    np.testing.assert_array_equal(pw[1], cl.window_matrix(CURVES, STEPS, BOUNDS)[1])
    assert np.isnan(cl.forgetting(pw)[0]) and not np.isnan(cl.forgetting(pw)[1])
    auc = cl.task_auc(killed, STEPS, BOUNDS)
    assert np.isnan(auc[0, 2]) and not np.isnan(auc[0, :2]).any() and not np.isnan(auc[1]).any()
    ap = cl.anytime_average_performance(killed, STEPS, BOUNDS)
    assert np.isnan(ap[0]) and ap[1] == pytest.approx(973 / 18)
    # the matrix metrics do not skip tasks: a NaN entry leaves that seed's value undefined
    m = MATRIX.copy()
    m[1, 2, 0] = np.nan
    per = cl.average_performance(m)
    assert per[0] == pytest.approx(190 / 3) and np.isnan(per[1])
    est = cl.seed_interval(per, reps=200)
    assert est.n_seeds == 1 and est.point == pytest.approx(190 / 3) and est.format() == "63.33"


@pytest.mark.parametrize("call", [
    lambda: cl.average_performance(np.zeros((2, 3, 4))),  # not square
    lambda: cl.backward_transfer(np.zeros(3)),
    lambda: cl.forgetting(np.zeros((2, 0, 0))),
    lambda: cl.average_performance([[1, 2], [3]]),  # ragged
    lambda: cl.forward_transfer_gem(MATRIX, INITIAL[:, :2]),
    lambda: cl.forward_transfer_gem(MATRIX, INITIAL[0]),
    lambda: cl.window_matrix(CURVES, STEPS[:-1], BOUNDS),  # curves have 7 steps
    lambda: cl.window_matrix(CURVES, STEPS, BOUNDS[:-1]),  # 2 tasks for 3 score columns
    lambda: cl.window_matrix(CURVES, STEPS[::-1], BOUNDS),  # steps not increasing
    lambda: cl.window_matrix(CURVES, STEPS, [0, 200, 100, 300]),
    lambda: cl.window_matrix(CURVES, STEPS, BOUNDS, last_n=0),
    lambda: cl.anytime_average_performance(CURVES[0, 0], STEPS, BOUNDS),
    lambda: cl.task_auc(CURVES[..., :2], STEPS, BOUNDS),
    lambda: cl.forward_transfer(np.ones((2, 3)), np.ones((2, 2))),
    lambda: cl.per_seed_metrics(MATRIX, curves=CURVES[:1], eval_steps=STEPS, task_boundaries=BOUNDS),
    lambda: cl.per_seed_metrics(MATRIX, curves=CURVES),
    lambda: cl.forward_transfer_interval(np.ones(3), np.ones((2, 3))),
])
def test_mismatched_shapes_raise_config_error(call):
    with pytest.raises(ConfigError):
        call()


# --------------------------------------------------------------------------------------------------
# Confidence intervals
# --------------------------------------------------------------------------------------------------


def test_seed_interval_is_the_stats_bootstrap():
    values = np.array([63.0, 50.0, 58.0, 71.0, 40.0])
    est = cl.seed_interval(values, key="toy|er|per", reps=3000, ci=0.95, seed=3)
    # the same resamples as offrl.evaluation.stats on the one-column matrix of the values
    points, cis = stats.interval_estimates({"toy|er|per": values[:, None]}, lambda s: np.mean(s, axis=(-2, -1)),
                                           reps=3000, ci=0.95, seed=3)
    assert est.point == pytest.approx(values.mean()) == pytest.approx(float(points["toy|er|per"]))
    assert (est.lower, est.upper) == pytest.approx(tuple(np.asarray(cis["toy|er|per"]).reshape(2)))
    assert est.lower < est.point < est.upper and est.n_seeds == 5
    assert est.format() == f"{est.point:.2f} [{est.lower:.2f}, {est.upper:.2f}]"
    # reproducible, its own stream per key, and a constant metric has a zero-width interval
    assert cl.seed_interval(values, key="toy|er|per", reps=3000, seed=3) == est
    assert cl.seed_interval(values, key="toy|er|bwt", reps=3000, seed=3) != est
    flat = cl.seed_interval([7.0, 7.0, 7.0], reps=500)
    assert (flat.lower, flat.point, flat.upper) == (7.0, 7.0, 7.0)


def test_forward_transfer_interval_resamples_both_runs():
    rng = np.random.default_rng(0)
    auc = np.clip(rng.normal(0.6, 0.05, (5, 3)), 0, 1)
    ref = np.clip(rng.normal(0.5, 0.05, (4, 3)), 0, 1)
    est = cl.forward_transfer_interval(auc, ref, reps=3000)
    assert est.point == pytest.approx(cl.forward_transfer(auc, ref))
    assert est.lower < est.point < est.upper and (est.n_seeds, est.n_reference_seeds) == (5, 4)
    # a replicate resamples whole seeds: with identical rows (every seed the same) nothing varies
    same = cl.forward_transfer_interval(np.tile(auc[:1], (5, 1)), np.tile(ref[:1], (4, 1)), reps=500)
    assert same.lower == pytest.approx(same.upper) == pytest.approx(same.point)
    auc[2, 1] = np.nan  # a seed without a task's AUC is left out of its run
    assert cl.forward_transfer_interval(auc, ref, reps=500).n_seeds == 4
    top = ref.copy()
    top[:, 0] = 1.0
    assert not cl.forward_transfer_interval(auc, top, reps=500).defined


def test_difference_interval_resamples_each_run_and_leaves_out_undefined_seeds():
    a = np.array([42.0, 43.0, 44.0, 45.0, 40.0])
    b = np.array([35.0, 41.0, 33.0, 28.0])
    est = cl.difference_interval(a, b, key="k", reps=4000, seed=1)
    assert est.point == pytest.approx(a.mean() - b.mean())
    assert 0 < est.lower < est.point < est.upper and (est.n_seeds, est.n_reference_seeds) == (5, 4)
    # the stats bootstrap with two strata-free runs, each resampled on its own, gives the same interval
    _, cis = stats.interval_estimates({"k": (a[:, None], b[:, None])},
                                      lambda x, y: np.mean(x, axis=(-2, -1)) - np.mean(y, axis=(-2, -1)),
                                      reps=4000, ci=0.95, seed=1)
    assert (est.lower, est.upper) == pytest.approx(tuple(np.asarray(cis["k"]).reshape(2)))
    # swapping the runs mirrors the point; identical constant runs differ by exactly 0
    assert cl.difference_interval(b, a, reps=500).point == pytest.approx(-est.point)
    flat = cl.difference_interval([3.0, 3.0], [3.0, 3.0, 3.0], reps=500)
    assert (flat.lower, flat.point, flat.upper) == (0.0, 0.0, 0.0)
    # a NaN seed is left out of its run; a run with none left makes the difference undefined
    assert cl.difference_interval([1.0, np.nan, 2.0], b, reps=500).n_seeds == 2
    assert not cl.difference_interval([np.nan], b, reps=500).defined


def test_difference_interval_pairs_the_same_seeds():
    """With the runs' seeds given and the same seeds defined in both, the difference is taken seed by seed
    (in seed order, wherever each run lists them) and its interval is that of the per-seed differences;
    different seed sets, a seed repeated within a run, or no seeds fall back to independent resampling."""
    x = np.array([20.0, 35.0, 50.0, 65.0, 80.0])
    lift = np.array([1.0, 1.5, 0.5, 1.2, 0.8])
    y = x - lift
    paired = cl.difference_interval(x, y, seeds=[0, 1, 2, 3, 4], other_seeds=[0, 1, 2, 3, 4], key="k", reps=4000)
    alone = cl.seed_interval(lift, key="k", reps=4000)  # the same stream over the differences
    assert paired.paired is True and (paired.n_seeds, paired.n_reference_seeds) == (5, 5)
    assert (paired.point, paired.lower, paired.upper) == pytest.approx((alone.point, alone.lower, alone.upper))
    assert paired.lower > 0 and paired.as_dict()["paired"] is True
    unpaired = cl.difference_interval(x, y, key="k", reps=4000)
    assert unpaired.paired is None and unpaired.lower < 0 < unpaired.upper and "paired" not in unpaired.as_dict()
    # the other run listing its seeds in another order pairs by seed id
    order = [4, 2, 0, 3, 1]
    shuffled = cl.difference_interval(x, y[order], seeds=[0, 1, 2, 3, 4], other_seeds=order, key="k", reps=4000)
    assert (shuffled.point, shuffled.lower, shuffled.upper) == (paired.point, paired.lower, paired.upper)
    # no pairing: a seed only one run has, a seed undefined in one run, a seed listed twice
    for other_seeds, values in (([0, 1, 2, 3, 5], y), ([0, 1, 2, 3, 4], np.r_[y[:4], np.nan]),
                                ([0, 1, 2, 3, 3], y)):
        est = cl.difference_interval(x, values, seeds=[0, 1, 2, 3, 4], other_seeds=other_seeds, key="k", reps=500)
        assert est.paired is False
        indep = cl.difference_interval(x, values, key="k", reps=500)
        assert (est.point, est.lower, est.upper) == (indep.point, indep.lower, indep.upper)
    with pytest.raises(ConfigError, match="4 seeds for 5 values"):
        cl.difference_interval(x, y, seeds=[0, 1, 2, 3], other_seeds=[0, 1, 2, 3, 4])


def test_pooled_difference_interval_averages_data_sets_and_resamples_within_each():
    """One data set gives difference_interval's estimate (paired or not); several give the mean of their
    differences, each data set's seeds resampled within it; constant per-seed differences leave no spread."""
    x = np.array([20.0, 35.0, 50.0, 65.0, 80.0])
    y = x - np.array([1.0, 1.5, 0.5, 1.2, 0.8])
    seeds = [0, 1, 2, 3, 4]
    for s_x, s_y in ((seeds, seeds), (None, None)):
        one = cl.pooled_difference_interval([(x, y, s_x, s_y)], key="k", reps=3000)
        alone = cl.difference_interval(x, y, seeds=s_x, other_seeds=s_y, key="k", reps=3000)
        assert (one.point, one.lower, one.upper, one.n_seeds) == pytest.approx(
            (alone.point, alone.lower, alone.upper, alone.n_seeds))
    # two data sets, each a constant lift per seed (2 and 6): the mean is 4 whatever the resample
    two = cl.pooled_difference_interval([(x, x - 2.0, seeds, seeds), (y, y - 6.0, seeds, seeds)], reps=2000)
    assert (two.lower, two.point, two.upper) == pytest.approx((4.0, 4.0, 4.0))
    assert two.paired is True and (two.n_seeds, two.n_reference_seeds) == (10, 10)
    # one of them unpaired (other seeds): flagged; the point is still the mean of the two differences
    mixed = cl.pooled_difference_interval([(x, x - 2.0, seeds, seeds), (y, y[:3] - 6.0, seeds, [7, 8, 9])],
                                          reps=2000)
    assert mixed.paired is False and mixed.point == pytest.approx((2.0 + (y.mean() - (y[:3] - 6.0).mean())) / 2)
    assert mixed.lower < mixed.point < mixed.upper
    # a data set with no defined seed on one side makes the average undefined; so does none at all
    assert not cl.pooled_difference_interval([(x, y, None, None), ([np.nan], y, None, None)]).defined
    assert not cl.pooled_difference_interval([]).defined


def test_learner_lead_by_hand():
    # 1 seed, 2 tasks of 100 steps, evaluations at 0, 50, 100, 150, 200
    steps, bounds = [0, 50, 100, 150, 200], [0, 100, 200]
    deployed = np.array([[[0, 0], [20, 0], [40, 5], [35, 20], [30, 30]]], float)
    learner = deployed.copy()
    learner[0, 2, 0], learner[0, 4, 1] = 60.0, 20.0  # +20 on task 0 at its end, -10 on task 1 at its end
    learner[0, 1, 0] = 99.0  # inside the window: not counted
    assert cl.learner_lead(deployed, learner, steps, bounds) == pytest.approx([5.0])
    missing = learner[:, [0, 1, 3, 4]]  # no evaluation at the end of task 0
    assert np.isnan(cl.learner_lead(deployed[:, [0, 1, 3, 4]], missing, [0, 50, 150, 200], bounds)[0])
    with pytest.raises(ConfigError, match="same shape"):  # another number of seeds
        cl.learner_lead(deployed, np.concatenate([learner, learner]), steps, bounds)
    with pytest.raises(ConfigError, match="num_tasks"):
        cl.learner_lead(deployed, learner[..., :1], steps, bounds)
