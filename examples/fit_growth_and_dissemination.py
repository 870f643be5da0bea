"""Fit growth and dissemination of the neuroblastoma model to imaging and a lesion count.

The model is that of Benzekry et al. (JCO Clin Cancer Inform 2021; REFERENCES V2): the primary
and its metastases grow exponentially from one cell, the primary founds `mu x` colonies per
day. A synthetic patient is simulated with the published values (48 h doubling, `mu` = 1e-3
per day) and observed as a clinician would see them:

- the primary's volume on five scans between day 50 and diagnosis at day 80 (log-normal error
  of 10 %, detection limit 0.05 mL: the first scan sees nothing and is left-censored);
- the number of visible (>= 5 mm) bone-marrow and distant lesions at diagnosis (Poisson).

The primary's gross growth rate and the dissemination coefficient are then estimated from a
wrong start by maximum likelihood (`mfo.fit`, Levenberg-Marquardt through the colonies
fidelity, 4 starts in one vmap), their profile likelihoods give 95 % intervals, and a Bayesian
fit (`mfo.sample_posterior`, NUTS) gives the posterior for comparison. The imaging alone
cannot separate growth from shedding (the primary's net growth is their difference): the lesion
count is what identifies the dissemination coefficient.

Run: `python examples/fit_growth_and_dissemination.py [--no-bayes] [--samples 200] [fig.png]`.
"""

import argparse

import numpy as np
import pandas as pd

import metaflow_ode as mfo

FREE = ["adrenal.growth.rate", "adrenal.emission.coefficient"]
SCANS = np.array([50.0, 57.5, 65.0, 72.5, 80.0])  # days after the first cell; diagnosis at 80
DETECTION_LIMIT = 0.05  # mL
RESOLUTION = mfo.Colonies(windows=32)  # 64 states per organ (default 256): a faster fit


def synthetic_patient(model, seed=2021):
    """Volumes of the primary at `SCANS` and the visible distant lesions at diagnosis."""
    truth = mfo.simulate(model, SCANS[-1], saveat=mfo.at(SCANS), resolution=RESOLUTION)
    rng = np.random.default_rng(seed)
    volume = truth.primary_burden.values / 1e9 * np.exp(0.1 * rng.standard_normal(SCANS.size))
    lesions = rng.poisson(float(truth.visible_lesions.sel(organ="distant").isel(time=-1)))
    rows = [
        {"time": t, "observable": "primary.volume", "value": v}
        for t, v in zip(SCANS, volume, strict=True)
    ]
    rows.append({"time": SCANS[-1], "observable": "distant.visible_lesions", "value": lesions})
    return pd.DataFrame(rows), truth


def main(figure=None, bayes=True, samples=200):
    model = mfo.parameter_sets.load("Benzekry2021")
    data, truth = synthetic_patient(model)
    print("synthetic data (values below the detection limit are left-censored):")
    print(data.to_string(index=False))

    noise = {"primary.volume": mfo.noise.LogNormal(sigma=0.1, detection_limit=DETECTION_LIMIT)}
    start = model.with_parameters({FREE[0]: 0.3, FREE[1]: 1e-2})
    result = mfo.fit(start, data, FREE, noise=noise, starts=4, resolution=RESOLUTION)
    print("\nmaximum likelihood:")
    print(result)
    profile = mfo.profile_likelihood(result, points=11)
    print("\nprofile-likelihood 95 % intervals:")
    print(profile.intervals.to_string())
    true_values = {p: float(model.parameter_values()[p]) for p in FREE}
    print("true values:", true_values)

    posterior = None
    if bayes:
        import numpyro.distributions as dist

        # Bounded priors (two and a half decades for the coefficient): NUTS then never
        # proposes a coefficient above the growth rate, where the primary would shrink
        # (see "Bayesian" in docs/fitting.md on extreme proposals in the colonies fidelity).
        priors = {
            FREE[0]: dist.LogUniform(0.2, 0.5),
            FREE[1]: dist.LogUniform(1e-4, 3e-2),
        }
        posterior = mfo.sample_posterior(
            start, data, priors, noise=noise, resolution=RESOLUTION, init=result,
            num_warmup=samples, num_samples=samples, seed=0,
        )  # fmt: skip
        import arviz as az

        print("\nposterior (NUTS):")
        print(az.summary(posterior, var_names=FREE, hdi_prob=0.95, round_to=6).to_string())

    if figure:
        _plot(figure, data, result, truth, profile)
    return result, profile, posterior


def _plot(figure, data, result, truth, profile):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fitted = mfo.simulate(result.model, 80.0, saveat=mfo.every(1.0), resolution=RESOLUTION)
    fig, (ax, *axes) = plt.subplots(1, 3, figsize=(13, 4))
    imaging = data[data.observable == "primary.volume"]
    seen = imaging.value >= DETECTION_LIMIT
    ax.semilogy(imaging.time[seen], imaging.value[seen], "ko", label="scans")
    ax.semilogy(imaging.time[~seen], [DETECTION_LIMIT] * (~seen).sum(), "kv", label="below limit")
    ax.semilogy(fitted.time, fitted.primary_burden / 1e9, label="fit")
    ax.semilogy(truth.time, truth.primary_burden / 1e9, "x", label="truth")
    ax.set(xlabel="days", ylabel="primary volume (mL)")
    ax.legend()
    for ax, path in zip(axes, FREE, strict=True):
        curve = profile.dataset.sel(parameter=path)
        ax.plot(curve.value, curve.delta_objective, "o-")
        ax.axhline(profile.threshold, color="grey", ls="--")
        ax.set(xlabel=path, ylabel="rise of -log likelihood")
    fig.tight_layout()
    fig.savefig(figure, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("figure", nargs="?", default=None)
    parser.add_argument("--no-bayes", action="store_true", help="skip the NUTS fit")
    parser.add_argument("--samples", type=int, default=200, help="NUTS warm-up and draws")
    args = parser.parse_args()
    main(args.figure, bayes=not args.no_bayes, samples=args.samples)
