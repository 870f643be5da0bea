"""Quickstart: a small breast-cancer model, simulated for ten years.

Run with `python examples/quickstart.py [--output quickstart.nc]`. Prints a summary (first
colony and failure per organ, death time and cause) and writes the dataset to a netCDF file.

The numbers are illustrative, not calibrated: Gompertz growth and Iwata power-law emission
(Iwata et al., J Theor Biol 2000) with the hepatocellular carcinoma exponent, a caval venous
carrier filtered by the lung, an arterial carrier to liver, bone and brain, and secondary
dissemination from every metastatic organ back into the venous blood.
"""

from __future__ import annotations

import argparse

import numpy as np

import metaflow_ode as mfo


def build_model() -> mfo.Model:
    emission = mfo.PowerLaw(coefficient=5e-7, exponent=0.663)
    organs = [
        mfo.Organ(
            "breast", mfo.Gompertz(rate=0.006, capacity=5e11), emission, primary=True, volume=500.0
        ),
        mfo.Organ(
            "lung",
            mfo.Gompertz(rate=0.005, capacity=1e12),
            emission,
            volume=1000.0,
            failure=mfo.Failure(replaced_fraction=0.6),
        ),
        mfo.Organ(
            "liver",
            mfo.Gompertz(rate=0.005, capacity=1.5e12),
            emission,
            volume=1800.0,
            failure=mfo.Failure(replaced_fraction=0.75),
        ),
        mfo.Organ("bone", mfo.Gompertz(rate=0.004, capacity=1e12), emission, volume=1500.0),
        mfo.Organ(
            "brain",
            mfo.Gompertz(rate=0.005, capacity=1e12),
            emission,
            volume=1400.0,
            failure=mfo.Failure(burden=3e10),
        ),
    ]
    carriers = [
        mfo.Carrier("caval_blood", mfo.Haematogenous, half_life=2 / 24),
        mfo.Carrier("arterial_blood", mfo.Haematogenous, half_life=2 / 24),
    ]
    H = mfo.Haematogenous
    transfers = [
        mfo.Transfer("breast", "caval_blood", kind=H),
        *(mfo.Transfer(o, "caval_blood", kind=H) for o in ("liver", "bone", "brain")),
        mfo.Transfer("lung", "arterial_blood", kind=H),
        # About 60 % of venous cells arrest in the lung capillaries, the rest pass.
        mfo.Transfer("caval_blood", "lung", kind=H, rate=12.0, efficiency=0.02),
        mfo.Transfer("caval_blood", "arterial_blood", kind=H, rate=8.0),
        mfo.Transfer("arterial_blood", "liver", kind=H, rate=5.0, efficiency=0.02),
        mfo.Transfer("arterial_blood", "bone", kind=H, rate=3.0, efficiency=0.02),
        mfo.Transfer("arterial_blood", "brain", kind=H, rate=2.0, efficiency=0.01),
    ]
    return mfo.Model(organs, carriers, transfers, name="quickstart breast model")


def summary(ds) -> str:
    lines = [
        f"{'organ':<8} {'first colony (d)':>17} {'p_metastasis@end':>17} "
        f"{'warning (d)':>12} {'failure (d)':>12}"
    ]
    for organ in ds.organ.values:
        colonies = ds.colonies.sel(organ=organ).sum("origin")
        first = ds.time.values[np.argmax(colonies.values >= 1)] if (colonies >= 1).any() else np.nan
        lines.append(
            f"{organ:<8} {first:>17.0f} {float(ds.p_metastasis.sel(organ=organ)[-1]):>17.3f} "
            f"{float(ds.warning_time.sel(organ=organ)):>12.1f} "
            f"{float(ds.failure_time.sel(organ=organ)):>12.1f}"
        )
    cause = str(ds.cause_of_death.values) or "none within the horizon"
    lines.append(f"death: {float(ds.death_time):.1f} d, cause: {cause}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="quickstart.nc", help="netCDF file to write")
    args = parser.parse_args(argv)
    model = build_model()
    ds = mfo.simulate(model, 3650.0, saveat=mfo.every(30.0))
    print(summary(ds))
    path = mfo.write_netcdf(ds, args.output)
    print(f"wrote {path}")
    return ds


if __name__ == "__main__":
    main()
