"""tapegrad.tune: runs are plain data any executor can run, the narrowing (and widening)
rule, the search's bookkeeping and its errors; one search on a real Dask cluster."""

from __future__ import annotations

import logging
import math
import os
import pickle
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import tune
from tapegrad.tune import Run, Task, Trial, next_range, run_task, search, standard_error


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated classes of 4-feature points."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return np.eye(3, 4)[y] * 2.0 + rng.normal(0.0, 0.6, (n, 4)), y


@pytest.fixture(scope="module")
def data():
    (X, y), (X_val, y_val) = blobs(60, 0), blobs(50, 1)
    return X, y, X_val, y_val


class InlineExecutor(Executor):
    """Runs each task at once in the caller: any Executor will do."""

    def __init__(self):
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


SMALL = dict(hidden=(6,), classes=3, epochs=3, batch_size=10)


# --- one run ---------------------------------------------------------------------------


def test_a_run_learns_and_scores_every_epoch(data):
    run = run_task(Task(*data, lr=0.3, seed=2, **{**SMALL, "epochs": 6}))
    assert (run.lr, run.weight_decay, run.seed, run.diverged) == (0.3, 0.0, 2, False)
    assert len(run.curve) == 6 and run.accuracy == run.curve[-1]
    assert run.accuracy > 0.9  # chance is about 1/3
    for accuracy in run.curve:  # a share of the 50 validation points
        assert accuracy * 50 == pytest.approx(round(accuracy * 50), abs=1e-9)


def test_a_run_depends_only_on_its_task(data):
    task = Task(*data, lr=0.05, weight_decay=1e-3, seed=4, **SMALL)
    first = run_task(task)
    run_task(Task(*data, lr=0.3, seed=9, **SMALL))  # the worker's programs are reused
    assert run_task(pickle.loads(pickle.dumps(task))) == first
    assert run_task(Task(*data, lr=0.05, weight_decay=1e-3, seed=5, **SMALL)) != first


def test_a_rate_far_too_large_diverges_and_stops_training(data):
    run = run_task(Task(*data, lr=1e4, seed=0, **SMALL))
    assert run.diverged
    assert len(run.curve) == 3
    assert len(set(run.curve[1:])) == 1  # no training after the loss overflowed


def test_a_trial_averages_its_runs():
    runs = (
        Run(0.1, 0.0, 0, (0.5, 0.7)),
        Run(0.1, 0.0, 1, (0.6, 0.9)),
        Run(0.1, 0.0, 2, (0.4, 0.8), diverged=True),
    )
    trial = Trial(0.1, 0.0, runs)
    assert trial.accuracy == pytest.approx(0.8)
    assert trial.curve == pytest.approx((0.5, 0.8))
    assert trial.spread == pytest.approx(0.1 / math.sqrt(3))  # std 0.1 over 3 seeds
    assert trial.diverged
    single = Trial(0.1, 0.0, runs[:1])
    assert (single.accuracy, single.spread, single.diverged) == (0.7, 0.0, False)


def test_standard_error_is_the_binomial_one():
    assert standard_error(0.8, 100) == pytest.approx(0.04)
    assert standard_error(0.5, 1500) == pytest.approx(math.sqrt(0.25 / 1500))
    assert standard_error(1.0, 10) == 0.0
    with pytest.raises(ValueError, match=r"standard_error: accuracy must be in \[0, 1\], got 1.5"):
        standard_error(1.5, 10)
    with pytest.raises(ValueError, match="standard_error: n must be at least 1, got 0"):
        standard_error(0.5, 0)


# --- the next round's range ------------------------------------------------------------


def test_the_next_range_spans_the_kept_trials_when_the_best_is_inside():
    assert next_range((1e-6, 1e-2), [1e-4, 3e-5, 2e-3], 1e-4, 0.1) == ((3e-5, 2e-3), None)


def test_a_best_at_the_top_edge_widens_the_range_up_by_half_its_width():
    # log10(9e-3) is 0.99 of the way from -6 to -2: the top tenth. Half of 4 decades up.
    (low, high), side = next_range((1e-6, 1e-2), [9e-3, 1e-3], 9e-3, 0.1)
    assert side == "up" and low == 1e-3 and high == pytest.approx(1.0)


def test_a_best_at_the_bottom_edge_widens_the_range_down():
    (low, high), side = next_range((1e-4, 1e-2), [1.2e-4, 5e-3], 1.2e-4, 0.1)
    assert side == "down" and low == pytest.approx(1e-5) and high == 5e-3


def test_a_point_range_stays_a_point():
    assert next_range((0.1, 0.1), [0.1], 0.1, 0.1) == ((0.1, 0.1), None)


exponents = st.floats(-8.0, 1.0)


@given(
    a=exponents,
    width=st.floats(0.01, 6.0),
    where=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5),
    edge=st.floats(0.0, 0.49),
)
def test_the_next_range_holds_every_kept_value(a, width, where, edge):
    current = (10.0**a, 10.0 ** (a + width))
    kept = [10.0 ** (a + w * width) for w in where]
    (low, high), side = next_range(current, kept, kept[0], edge)
    assert low <= min(kept) and max(kept) <= high
    if side is None:
        assert (low, high) == (min(kept), max(kept))
    else:
        assert (side == "up" and high > current[1]) or (side == "down" and low < current[0])


# --- the search ------------------------------------------------------------------------


def test_search_samples_inside_its_ranges_ranks_and_narrows(data):
    executor = InlineExecutor()
    calls = []
    history = search(
        *data,
        rounds=2,
        trials=4,
        keep=2,
        repeats=2,
        seed=3,
        executor=executor,
        on_run=lambda *a: calls.append(a),
        **SMALL,
    )
    assert executor.submitted == 2 * 4 * 2
    assert calls == [(r, done, 8) for r in (1, 2) for done in range(1, 9)]
    assert history[0].ranges == {"lr": tune.LR_RANGE, "weight_decay": tune.WEIGHT_DECAY_RANGE}
    for h in history:
        assert [h.number for h in history] == [1, 2]
        assert len(h.trials) == 4 and h.best is h.trials[0]
        for t in h.trials:
            assert [r.seed for r in t.runs] == [3, 4]  # the same seeds for every setting
            for r in t.runs:
                assert (r.lr, r.weight_decay) == (t.lr, t.weight_decay)
            for name in ("lr", "weight_decay"):
                low, high = h.ranges[name]
                assert low <= getattr(t, name) <= high
        keys = [(-t.accuracy, t.lr) for t in h.trials]
        assert keys == sorted(keys)
        assert h.noise == standard_error(h.best.accuracy, 50)
        within = [t for t in h.trials if h.best.accuracy - t.accuracy <= 2 * h.noise]
        assert h.kept == max(2, len(within))  # keep=2, and all the noise cannot rank
        widened = []
        for name in ("lr", "weight_decay"):
            kept = [getattr(t, name) for t in h.trials[: h.kept]]
            expected, side = next_range(h.ranges[name], kept, kept[0], 0.1)
            assert h.next_ranges[name] == expected
            if side:
                widened.append((name, side))
        assert list(h.widened) == widened
    assert history[1].ranges == history[0].next_ranges


def test_search_gives_the_same_numbers_on_any_executor(data):
    options = dict(rounds=2, trials=3, keep=1, seed=1, **SMALL)
    inline = search(*data, executor=InlineExecutor(), **options)
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert search(*data, executor=pool, **options) == inline


def test_trials_within_noise_of_the_best_are_kept_with_it(data):
    # 50 validation points: the standard error near 0.9 is about 0.04, so trials up to
    # 0.08 below the best are kept although keep=1; chance-level trials are not.
    h = search(
        *data,
        rounds=1,
        trials=6,
        keep=1,
        lr_range=(1e-2, 1.0),
        seed=0,
        executor=InlineExecutor(),
        **SMALL,
    )[0]
    accuracies = [t.accuracy for t in h.trials]
    assert h.noise == pytest.approx(math.sqrt(accuracies[0] * (1 - accuracies[0]) / 50))
    assert h.kept == sum(accuracies[0] - a <= 2 * h.noise for a in accuracies)
    assert 1 < h.kept < 6
    lrs = [t.lr for t in h.trials[: h.kept]]
    assert h.next_ranges["lr"] == (min(lrs), max(lrs))


def test_search_finds_a_rate_that_learns(data):
    history = search(
        *data, rounds=1, trials=3, keep=1, lr_range=(0.03, 0.3), executor=InlineExecutor(), **SMALL
    )
    assert history[0].best.accuracy > 0.8  # chance is about 1/3


@pytest.mark.parametrize(
    "options, error, message",
    [
        (
            dict(trials=3, keep=4),
            ValueError,
            r"search: keep must be between 1 and trials \(3\), got 4",
        ),
        (dict(rounds=0), ValueError, "search: rounds must be at least 1, got 0"),
        (dict(repeats=True), TypeError, "search: repeats must be an integer, got bool True"),
        (dict(trials=2.0), TypeError, "search: trials must be an integer, got float 2.0"),
        (dict(edge=0.5), ValueError, r"search: edge must be in \[0, 0.5\), got 0.5"),
        (
            dict(lr_range=(1.0, 0.1)),
            ValueError,
            r"search: lr_range must have low <= high, got \(1.0, 0.1\)",
        ),
        (
            dict(lr_range=(0.0, 0.1)),
            ValueError,
            r"search: lr_range must be finite and > 0, got 0.0",
        ),
        (
            dict(weight_decay_range=1e-4),
            TypeError,
            r"search: weight_decay_range must be a pair \(low, high\), got 0.0001",
        ),
        (dict(hidden="8"), TypeError, "search: hidden must be a sequence of layer widths, got '8'"),
        (dict(hidden=(8, 0)), ValueError, "search: hidden width must be at least 1, got 0"),
        (dict(seed=-1), ValueError, "search: seed must be at least 0, got -1"),
        (dict(classes=2), ValueError, r"search: y must be class indices 0..1, got 2"),
        (dict(epochs=0), ValueError, "search: epochs must be at least 1, got 0"),
    ],
)
def test_search_refuses_bad_settings_before_running_anything(data, options, error, message):
    executor = InlineExecutor()
    settings = {**SMALL, **options}
    with pytest.raises(error, match=message):
        search(*data, executor=executor, **settings)
    assert executor.submitted == 0


def test_search_refuses_bad_data(data):
    X, y, X_val, y_val = data
    cases = [
        (
            (X[:, :3], y, X_val, y_val),
            ValueError,
            "search: X_val has 4 features per sample, X has 3",
        ),
        ((X, y[:-1], X_val, y_val), ValueError, r"search: y must have shape \(60,\)"),
        (
            (X, y.astype(float), X_val, y_val),
            TypeError,
            "search: y must hold integer class indices, got float64",
        ),
        (
            (X[0], y, X_val, y_val),
            ValueError,
            r"search: X must have shape \(samples, features\), got \(4,\)",
        ),
        (
            (np.where(X > 2.5, np.nan, X), y, X_val, y_val),
            ValueError,
            "search: X holds NaN or infinite numbers",
        ),
        ((X, y, [["a"] * 4], [0]), TypeError, "search: X_val and y_val must be arrays of numbers"),
    ]
    for arrays, error, message in cases:
        with pytest.raises(error, match=message):
            search(*arrays, executor=InlineExecutor(), **SMALL)


def test_a_task_checks_itself_and_run_task_wants_one(data):
    with pytest.raises(ValueError, match="Task: lr must be finite and > 0, got -0.1"):
        Task(*data, lr=-0.1)
    with pytest.raises(ValueError, match="Task: weight_decay must be finite and >= 0, got nan"):
        Task(*data, lr=0.1, weight_decay=float("nan"))
    with pytest.raises(TypeError, match="run_task: expected a Task, got dict"):
        run_task({"lr": 0.1})


# --- stopping ----------------------------------------------------------------------------


class BusyExecutor(Executor):
    """A pool whose workers are all busy: it runs the first ``runs`` tasks it is given
    (the first raising ``fail``, if given) and leaves the rest queued. Records its
    futures and every shutdown()."""

    def __init__(self, runs: int = 1, fail: BaseException | None = None, refuse_after: int = 99):
        self.runs, self.fail, self.refuse_after = runs, fail, refuse_after
        self.futures: list[Future] = []
        self.shutdowns: list[dict] = []

    def submit(self, fn, /, *args, **kwargs):
        if len(self.futures) == self.refuse_after:
            raise RuntimeError("cannot schedule new futures: the cluster is gone")
        future = Future()
        if len(self.futures) < self.runs:
            if self.fail is not None and not self.futures:
                future.set_exception(self.fail)
            else:
                future.set_result(fn(*args, **kwargs))
        self.futures.append(future)
        return future

    def shutdown(self, wait=True, *, cancel_futures=False):
        self.shutdowns.append({"wait": wait, "cancel_futures": cancel_futures})


class Stop(Exception):
    pass


def _stop_after_the_first_run(error):
    def on_run(number, done, total):
        raise error

    return on_run


@pytest.mark.parametrize("error", [Stop("enough"), KeyboardInterrupt()], ids=["error", "Ctrl-C"])
def test_a_search_that_stops_cancels_the_queued_trials_of_a_users_executor(data, error):
    executor = BusyExecutor()
    with pytest.raises(type(error)):
        search(
            *data,
            rounds=2,
            trials=3,
            keep=1,
            executor=executor,
            on_run=_stop_after_the_first_run(error),
            **SMALL,
        )
    assert [f.cancelled() for f in executor.futures] == [False, True, True]
    assert executor.shutdowns == []  # the user's executor (a Dask cluster) is theirs to close


def test_a_failed_run_stops_the_search_at_once_and_cancels_the_queued_trials(data):
    executor = BusyExecutor(fail=MemoryError("worker out of memory"))
    errors = []

    def run():
        try:
            search(*data, rounds=1, trials=3, keep=1, executor=executor, **SMALL)
        except MemoryError as error:
            errors.append(error)

    searching = threading.Thread(target=run, daemon=True)
    searching.start()
    searching.join(timeout=20)
    assert not searching.is_alive(), "search waited for queued trials after a run failed"
    assert [str(e) for e in errors] == ["worker out of memory"]
    assert [f.cancelled() for f in executor.futures] == [False, True, True]


def test_a_search_that_cannot_submit_cancels_what_it_submitted(data):
    executor = BusyExecutor(runs=0, refuse_after=2)
    with pytest.raises(RuntimeError, match="the cluster is gone"):
        search(*data, rounds=1, trials=3, keep=1, executor=executor, **SMALL)
    assert [f.cancelled() for f in executor.futures] == [True, True]


def test_a_search_shuts_its_own_pool_down_cancelling_queued_trials(data, monkeypatch):
    pool = BusyExecutor()
    monkeypatch.setattr(tune, "ProcessPoolExecutor", lambda max_workers: pool)
    with pytest.raises(KeyboardInterrupt):
        search(
            *data,
            rounds=1,
            trials=3,
            keep=1,
            on_run=_stop_after_the_first_run(KeyboardInterrupt()),
            **SMALL,
        )
    assert [f.cancelled() for f in pool.futures] == [False, True, True]
    assert pool.shutdowns == [{"wait": True, "cancel_futures": True}]
    finished = BusyExecutor(runs=3)
    monkeypatch.setattr(tune, "ProcessPoolExecutor", lambda max_workers: finished)
    search(*data, rounds=1, trials=3, keep=1, **SMALL)
    assert finished.shutdowns == [{"wait": True, "cancel_futures": True}]


# --- a real cluster ----------------------------------------------------------------------


def test_a_dask_cluster_gives_the_numbers_of_a_local_process_pool(data):
    try:
        import distributed
    except ImportError:
        if os.environ.get("CI"):  # CI installs the extra: there the test must run
            raise
        pytest.skip('Dask is an optional extra: pip install -e ".[distributed]"')
    options = dict(rounds=2, trials=3, keep=2, repeats=2, seed=5, **SMALL)
    with ProcessPoolExecutor(max_workers=2) as pool:
        local = search(*data, executor=pool, **options)
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_cluster = search(*data, executor=client.get_executor(), **options)
        workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2  # two worker processes ran the trials
    assert on_cluster == local
    assert len(on_cluster) == 2 and all(len(t.runs) == 2 for h in on_cluster for t in h.trials)
