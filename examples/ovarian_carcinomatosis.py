"""Ovarian primary -> peritoneal carcinomatosis -> malignant ascites and bowel obstruction.

The whole-body model of an ovarian primary with the peritoneum split into the pooling sites of
Meyers (free cells follow the peritoneal fluid and implant where it pools; tumour at the
resorption sites obstructs drainage). Serosal implants raise fluid production, so ascites
emerges as the fluid volume crossing its failure level; bowel obstruction is the burden
criterion of the right lower quadrant (small bowel) and sigmoid mesocolon.

The scenario is illustrative, not calibrated: the ovary autopsy series is too small to fit
soil factors, so the soil of the peritoneum is raised (ovarian cells implant avidly on the
serosa) and that of muscle and skin lowered, and peritoneal implants may grow to 500 mL per
site (omental cake) instead of the serosa's thin layer.

Run: `python examples/ovarian_carcinomatosis.py [figure.png]` (about 15 s).
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import metaflow_ode as mfo

PERITONEAL = ("peritoneum", *mfo.anatomy.MEYERS_SITES)


def main(figure: str = "ovarian_carcinomatosis.png"):
    model = mfo.anatomy.reference_model(
        "ovary",
        peritoneum="meyers",
        soil={"peritoneum": 300.0, "muscle": 0.02, "skin": 0.1},
    )
    model = model.with_parameters({f"{site}.growth.capacity": 5e11 for site in PERITONEAL})
    ds = mfo.simulate(
        model, 3650.0, saveat=mfo.every(10.0), resolution=mfo.Lumped(eliminate_carriers=True)
    )

    print(
        f"death at day {float(ds.death_time):.0f}: {ds.cause_of_death.values} "
        f"({ds.death_condition.values})"
    )
    print("organ failures in order (day, organ, condition):")
    failures = ds.failure_time_by_mechanism.to_series().dropna().sort_values()
    for (organ, mechanism), t in failures.items():
        condition = model.organs[model.organ_names.index(organ)].failure.label(mechanism)
        print(f"  {t:7.0f}  {organ:22s} {condition}")

    years = ds.time / 365.25
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for organ in ("ovary", *PERITONEAL):
        top.semilogy(years, ds.burden.sel(organ=organ), label=organ)
    top.set_ylabel("tumour cells")
    top.set_ylim(1.0, None)
    top.legend(fontsize=7, ncol=2)
    top.set_title("ovarian primary: peritoneal carcinomatosis at the Meyers pooling sites")
    ascites = model.organs[model.organ_names.index("peritoneum")].failure.fluid_volume
    bottom.plot(years, ds.fluid_volume.sel(carrier="peritoneal_fluid"), label="peritoneal fluid")
    bottom.axhline(float(ascites), ls="--", color="k", lw=0.8, label="ascites failure level")
    bottom.set_ylabel("fluid volume (mL)")
    bottom.set_xlabel("years since the first cancer cell")
    bottom.legend(fontsize=8)
    for ax in (top, bottom):
        if np.isfinite(float(ds.death_time)):
            ax.axvline(float(ds.death_time) / 365.25, color="r", lw=0.8)
    fig.tight_layout()
    fig.savefig(figure, dpi=120)
    print(f"wrote {figure}")
    return ds


if __name__ == "__main__":
    main(*sys.argv[1:])
