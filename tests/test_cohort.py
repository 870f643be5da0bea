"""Virtual cohorts: `simulate_cohort` against closed forms, resume, devices and a dask cluster."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import xarray as xr

import metaflow_ode as mfo
from metaflow_ode import _simulate

sys.path.insert(0, str(Path(__file__).parent))
from test_linear import build_model, system_matrix  # noqa: E402

TIMES = np.linspace(0.0, 300.0, 7)
PRIM_RATES = np.linspace(0.04, 0.06, 7)
LIVER_RATES = np.linspace(0.02, 0.035, 7)
CACHE = os.environ.get("METAFLOW_ODE_TEST_JAX_CACHE")


def run_linear(**kwargs):
    kwargs.setdefault("progress", False)
    return mfo.simulate_cohort(
        build_model(),
        {"prim.growth.rate": PRIM_RATES, "liver.growth.rate": LIVER_RATES},
        TIMES[-1],
        saveat=mfo.at(TIMES),
        rtol=1e-10,
        atol=1e-10,
        chunk_size=3,
        **kwargs,
    )


@pytest.fixture(scope="module")
def linear():
    return run_linear()


def exact_burden(prim_rate, liver_rate):
    """Matrix exponential of test_linear's system with this patient's growth rates."""
    A, z0, n_o, _ = system_matrix()
    # "prim.growth.rate" is the growth law of the primary and of the metastases in its organ.
    A[0, 0] += prim_rate - 0.05
    A[1, 1] += prim_rate - 0.05
    A[2, 2] += liver_rate - 0.03
    exact = np.stack([scipy.linalg.expm(A * t) @ z0 for t in TIMES])
    burden = exact[:, 1 : 1 + n_o].copy()
    burden[:, 0] += exact[:, 0]
    return burden


def test_each_patient_against_its_matrix_exponential(linear):
    assert linear.burden.dims == ("patient", "time", "organ")
    assert linear.sizes["patient"] == 7
    for i in range(7):
        np.testing.assert_allclose(
            linear.burden.isel(patient=i).values,
            exact_burden(PRIM_RATES[i], LIVER_RATES[i]),
            rtol=1e-7,
            atol=1e-9,
        )
    np.testing.assert_array_equal(
        linear.parameter_value.sel(parameter="liver.growth.rate").values, LIVER_RATES
    )
    assert (linear.solver_status.values == "successful").all()
    assert linear.attrs["patients"] == 7 and linear.attrs["chunk_size"] == 3
    assert (
        linear.attrs["peak_memory_bytes"] > 0 and linear.attrs["estimated_chunk_memory_bytes"] > 0
    )


def test_new_numbers_do_not_recompile(linear):
    before = _simulate._trace_count
    again = mfo.simulate_cohort(
        build_model(),
        {"prim.growth.rate": PRIM_RATES[::-1], "liver.growth.rate": LIVER_RATES[::-1]},
        TIMES[-1],
        saveat=mfo.at(TIMES),
        rtol=1e-10,
        atol=1e-10,
        chunk_size=3,
        progress=False,
    )
    assert _simulate._trace_count == before
    np.testing.assert_allclose(
        again.burden.isel(patient=0).values, linear.burden.isel(patient=6).values, rtol=1e-12
    )


def test_one_trace_serves_every_chunk_including_the_padded_last():
    before = _simulate._trace_count
    ds = mfo.simulate_cohort(
        build_model(), {"prim.growth.rate": PRIM_RATES}, TIMES[-1], saveat=mfo.at(TIMES),
        rtol=1e-9, atol=1e-9, chunk_size=3, progress=False,  # a fresh option set: 7 = 3+3+1
    )  # fmt: skip
    assert _simulate._trace_count - before == 1
    np.testing.assert_allclose(
        ds.burden.isel(patient=6).values, exact_burden(PRIM_RATES[6], 0.03), rtol=1e-6
    )


def test_progress_callback_counts_patients(tmp_path):
    calls = []
    run_linear(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(3, 7), (6, 7), (7, 7)]


class Stop(Exception):
    pass


def test_interrupted_store_resumes_to_the_identical_dataset(tmp_path, linear):
    store = tmp_path / "cohort.zarr"

    def interrupt(done, total):
        if done >= 6:
            raise Stop

    with pytest.raises(Stop):
        run_linear(store=store, progress=interrupt)
    partial = xr.open_zarr(store, consolidated=False)
    assert partial.chunk_completed.values.tolist() == [1, 1, 0]

    calls = []
    resumed = run_linear(store=store, progress=lambda done, total: calls.append(done))
    assert calls == [7]  # only the missing chunk ran
    whole = run_linear(store=tmp_path / "whole.zarr")
    keep = ("run_seconds", "compile_seconds", "peak_memory_bytes")
    xr.testing.assert_identical(resumed.load().drop_attrs(), whole.load().drop_attrs())
    assert {k: v for k, v in resumed.attrs.items() if k not in keep} == {
        k: v for k, v in whole.attrs.items() if k not in keep
    }
    # and the stored cohort holds the same numbers as the in-memory one
    for name in ("burden", "failure_time", "cause_of_death", "solver_status", "colonies"):
        np.testing.assert_array_equal(resumed[name].values, linear[name].values)


def test_store_of_another_cohort_is_refused(tmp_path):
    store = tmp_path / "cohort.zarr"
    first = run_linear(store=store, variables=["burden"])
    for other in ({"variables": ["death_time"]}, {"variables": ["burden"], "max_steps": 5000}):
        with pytest.raises(ValueError, match="holds a different cohort"):
            run_linear(store=store, **other)
    # the same cohort with its parameters given in another order: resumed, not refused
    calls = []
    again = mfo.simulate_cohort(
        build_model(),
        {"liver.growth.rate": LIVER_RATES, "prim.growth.rate": PRIM_RATES},
        TIMES[-1], saveat=mfo.at(TIMES), rtol=1e-10, atol=1e-10, chunk_size=3,
        variables=["burden"], store=store, progress=lambda d, t: calls.append(d),
    )  # fmt: skip
    assert calls == []  # nothing left to run
    xr.testing.assert_identical(again.load().drop_attrs(), first.load().drop_attrs())
    out = run_linear(store=store, overwrite=True, variables=["death_time"])
    assert set(out.data_vars) == {"death_time", "parameter_value"}


def test_a_path_that_is_not_a_store_is_never_replaced(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="not a cohort store"):
            run_linear(store=tmp_path / "results", overwrite=overwrite)
    assert (tmp_path / "results" / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="local or shared file system"):
        run_linear(store="s3://bucket/cohort.zarr")


@pytest.fixture(scope="module")
def failing():
    """Exponential growth to a failure burden: t_f = ln(B / x0) / rate, one patient too fast."""
    model = mfo.Model(
        [
            mfo.Organ(
                "prim",
                mfo.Exponential(0.01),
                initial=1e6,
                primary=True,
                failure=mfo.Failure(burden=1e9),
            )
        ],
        lethal_burden=None,
    )
    rates = np.array([0.015, 0.02, 0.05, 40.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = mfo.simulate_cohort(
            model, {"prim.growth.rate": rates}, 500.0, max_steps=1000, chunk_size=2, progress=False
        )
    return rates, ds, caught


def test_failure_times_against_closed_form_and_one_failing_patient(failing):
    rates, ds, caught = failing
    expected = np.log(1e9 / 1e6) / rates[:3]
    np.testing.assert_allclose(ds.death_time.values[:3], expected, rtol=1e-8)
    assert ds.cause_of_death.values[:3].tolist() == ["prim"] * 3
    # the fourth patient exhausts max_steps; the others are kept, and a warning says so
    assert ds.solver_status.values[:3].tolist() == ["successful"] * 3
    assert ds.solver_status.values[3] != "successful"
    assert ds.attrs["failed_patients"] == 1
    assert any("failed for 1 of 4 patients" in str(w.message) for w in caught)


def test_parameters_as_dataset_keep_patient_coordinates():
    params = xr.Dataset(
        {"prim.growth.rate": ("patient", PRIM_RATES[:2])},
        coords={"patient": ["a", "b"], "arm": ("patient", ["control", "treated"])},
    )
    ds = mfo.simulate_cohort(
        build_model(), params, TIMES[-1], saveat=mfo.at(TIMES), rtol=1e-10, atol=1e-10,
        chunk_size=3, progress=False, variables=["burden"],
    )  # fmt: skip
    assert ds.patient.values.tolist() == ["a", "b"]
    assert ds.arm.values.tolist() == ["control", "treated"]


def test_sampled_patients_run_and_keep_their_provenance():
    params = mfo.sample_patients(5, {"prim.growth.rate": mfo.LogNormal(0.05, 0.1)}, seed=11)
    ds = mfo.simulate_cohort(
        build_model(), params, TIMES[-1], saveat=mfo.at(TIMES), rtol=1e-10, atol=1e-10,
        chunk_size=3, progress=False, variables=["burden"],
    )  # fmt: skip
    assert json.loads(ds.attrs["patient_sampling"])["seed"] == 11
    np.testing.assert_array_equal(
        ds.parameter_value.sel(parameter="prim.growth.rate").values,
        params["prim.growth.rate"].values,
    )


@pytest.mark.parametrize(
    "parameters, match",
    [
        ({"prim.growth.rat": [0.1]}, "unknown parameter path 'prim.growth.rat'.*prim.growth.rate"),
        ({"prim.growth.rate": [[0.1]]}, "1-D array"),
        ({"prim.growth.rate": [0.1, 0.2], "liver.growth.rate": [0.1]}, "has 1 values"),
        ({"prim.initial": [1.0, -1.0]}, "patient 1 has -1.0"),
        ({"prim.growth.rate": []}, "no patients"),
        ({}, "empty"),
        (xr.Dataset({"prim.growth.rate": ("x", [0.1])}), "needs a `patient` dimension"),
    ],
)
def test_bad_parameters_are_named(parameters, match):
    with pytest.raises(ValueError, match=match):
        mfo.simulate_cohort(build_model(), parameters, 10.0)


def test_colonies_fidelity_checks_every_patient():
    # a patient with an initial metastatic burden has no size distribution
    with pytest.raises(ValueError, match=r"\['liver'\] have an initial burden"):
        mfo.simulate_cohort(
            build_model(),
            {"lung.initial": [0.0, 0.0], "liver.initial": [0.0, 5.0]},
            10.0,
            resolution=mfo.Colonies(),
        )


def test_graph_constraints_are_checked_per_patient():
    # fractions out of "prim": 0.3 (lymph) + 0.5 (blood); patient 1 pushes the sum past 1
    with pytest.raises(ValueError, match=r"sum to 1.3 > 1 \(patient 1\)"):
        mfo.simulate_cohort(build_model(), {"prim->blood.fraction": [0.5, 1.0]}, 10.0)


def test_bad_options_are_named():
    good = {"prim.growth.rate": [0.05]}
    with pytest.raises(ValueError, match="chunk_size"):
        mfo.simulate_cohort(build_model(), good, 10.0, chunk_size=0)
    with pytest.raises(ValueError, match="devices"):
        mfo.simulate_cohort(build_model(), good, 10.0, devices=64)
    with pytest.raises(ValueError, match="memory size"):
        mfo.simulate_cohort(build_model(), good, 10.0, memory_limit="lots")
    with pytest.raises(TypeError, match="takes a mapping"):
        mfo.simulate_cohort(build_model(), [0.05], 10.0)
    with pytest.raises(TypeError, match="progress"):
        mfo.simulate_cohort(build_model(), good, 10.0, progress="yes")


def test_memory_limit_shrinks_the_chunk_or_refuses(linear, tmp_path):
    per_chunk = linear.attrs["estimated_chunk_memory_bytes"]
    with pytest.raises(ValueError, match="raise the limit"):
        run_linear(memory_limit=per_chunk / 3 / 4)
    with pytest.raises(ValueError, match="pass a `store=` path"):
        run_linear(memory_limit=int(per_chunk * 1.1))  # a chunk fits, the whole result not
    smaller = run_linear(memory_limit=int(per_chunk * 0.7), store=tmp_path / "small.zarr")
    assert smaller.attrs["chunk_size"] < 3
    assert smaller.attrs["estimated_chunk_memory_bytes"] <= per_chunk * 0.7
    # another batch size vectorises differently: equal to rounding
    np.testing.assert_allclose(smaller.burden.values, linear.burden.values, rtol=1e-12)


def test_parse_memory():
    assert mfo.parse_memory("4 GiB") == 4 * 2**30
    assert mfo.parse_memory("512MiB") == 512 * 2**20
    assert mfo.parse_memory(1e9) == 10**9
    assert mfo.parse_memory("1e9") == mfo.parse_memory("1 gb") == 10**9
    with pytest.raises(ValueError):
        mfo.parse_memory("-1 GiB")


TWO_DEVICES = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import jax
    import metaflow_ode as mfo
    sys.path.insert(0, {tests!r})
    from test_linear import build_model
    from metaflow_ode import _cohort

    class Spy:  # records over how many devices each chunk's result lies
        def __init__(self, f):
            self.f, self.seen = f, []
        def __call__(self, *args):
            out = self.f(*args)
            self.seen.append(len(out.primary.sharding.device_set))
            return out
        def lower(self, *args):
            return self.f.lower(*args)

    spy = _cohort._solve_chunk = Spy(_cohort._solve_chunk)
    rates = np.linspace(0.04, 0.06, 7)
    times = np.linspace(0.0, 300.0, 7)
    kw = dict(saveat=mfo.at(times), rtol=1e-10, atol=1e-10, chunk_size=3, progress=False)
    two = mfo.simulate_cohort(build_model(), {{"prim.growth.rate": rates}}, 300.0, **kw)
    seen_two, spy.seen = spy.seen, []
    one = mfo.simulate_cohort(build_model(), {{"prim.growth.rate": rates}}, 300.0, devices=1, **kw)
    print(json.dumps({{
        "devices": jax.local_device_count(),
        "used": two.attrs["devices"],
        "chunk": two.attrs["chunk_size"],
        "sharded_two": seen_two,
        "sharded_one": spy.seen,
        "max_difference": float(abs(two.burden - one.burden).max()),
        "burden_6": two.burden.isel(patient=6).values.tolist(),
    }}))
    """
)


def test_chunks_are_sharded_over_two_host_devices(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    env["JAX_PLATFORMS"] = "cpu"
    script = TWO_DEVICES.format(tests=str(Path(__file__).parent))
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["devices"] == 2 and report["used"] == 2
    assert report["chunk"] == 4  # 3 rounded up to a multiple of the two devices
    assert report["sharded_two"] == [2, 2] and report["sharded_one"] == [1, 1, 1]
    assert report["max_difference"] <= 1e-12 * float(np.max(report["burden_6"]))
    # the sharded patient against the matrix exponential
    np.testing.assert_allclose(
        report["burden_6"], exact_burden(PRIM_RATES[6], 0.03), rtol=1e-7, atol=1e-9
    )


def test_dask_local_cluster_streams_to_the_store(tmp_path, linear):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        ds = run_linear(client=client, store=tmp_path / "cluster.zarr", compilation_cache=CACHE)
        in_memory = run_linear(client=client, compilation_cache=CACHE)
    compilations = json.loads(ds.attrs["worker_compilations"])
    assert 1 <= len(compilations) <= 2
    assert all(count == 1 for count in compilations.values())  # each worker compiled once
    for name in ("burden", "death_time", "solver_status"):
        np.testing.assert_array_equal(ds[name].values, linear[name].values)
        np.testing.assert_array_equal(in_memory[name].values, linear[name].values)


def test_outputs_left_out_are_not_computed(linear):
    few = run_linear(variables=["burden", "death_time"])
    assert set(few.data_vars) == {"burden", "death_time", "parameter_value"}
    np.testing.assert_array_equal(few.burden.values, linear.burden.values)
    # seeding rates, carriers, colonies are dropped inside the compiled chunk: less memory
    assert few.attrs["estimated_chunk_memory_bytes"] < linear.attrs["estimated_chunk_memory_bytes"]
    with pytest.raises(ValueError, match="no variable"):
        run_linear(variables=["burdens"])
