"""Breast primary -> brain metastasis -> leptomeningeal spread -> hydrocephalus.

A small model built from the library's CNS routes (`mfo.anatomy.cns_routes`): the breast
primary sheds into the blood; arterial cells arrest in the brain and, through the choroid
plexus, reach the CSF. Brain metastases shed into the CSF and the meninges and seed new brain
lesions. Free cells in the CSF implant on the leptomeninges, and leptomeningeal tumour
obstructs CSF absorption: the CSF volume rises (hydrocephalus), while brain tumour volume and
excess CSF together consume the intracranial reserve (Monro-Kellie). Default failure criteria
of `mfo.anatomy.default_failure`.

Numbers are the anatomy defaults; the colonisation efficiencies (brain 1e-4, leptomeninges
1e-2) are illustrative, chosen for a patient whose tumour seeds the CNS readily.

Run: `python examples/breast_cns.py [figure.png]` (about 15 s).
"""

import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import metaflow_ode as mfo
from metaflow_ode import anatomy

EFFICIENCY = {"brain": 1e-4, "leptomeninges": 1e-2}


def build() -> mfo.Model:
    preset = anatomy.preset("breast")
    phys = anatomy.Physiology()
    density = phys.cell_density
    brain_ml, meninges_ml = 1300.0, 20.0

    def organ(name, volume):
        return mfo.Organ(
            name,
            mfo.Gompertz(preset.growth_rate, volume * density),
            preset.emission,
            volume=volume,
            failure=anatomy.default_failure(name),
        )

    organs = [
        mfo.Organ(
            "breast",
            mfo.Gompertz(preset.growth_rate, preset.capacity),
            preset.emission,
            primary=True,
            volume=500.0,
        ),
        organ("brain", brain_ml),
        organ("leptomeninges", meninges_ml),
    ]
    blood = math.log(2.0) / phys.blood_half_life
    carriers, transfers, shares = anatomy.cns_routes(
        phys, arterial_rate=50.0, efficiency=EFFICIENCY, marrow=None
    )
    carriers += [
        mfo.Carrier("caval_blood", mfo.Haematogenous, clearance=blood),
        mfo.Carrier("arterial_blood", mfo.Haematogenous, clearance=blood),
    ]
    transfers += [
        mfo.Transfer("breast", "caval_blood", kind=mfo.Haematogenous),
        mfo.Transfer("caval_blood", "arterial_blood", kind=mfo.Haematogenous, rate=100.0),
        mfo.Transfer(
            "arterial_blood",
            "brain",
            kind=mfo.Haematogenous,
            rate=2000.0,
            efficiency=EFFICIENCY["brain"],
        ),
        mfo.Transfer("brain", "caval_blood", kind=mfo.Haematogenous, fraction=1 - shares["brain"]),
        mfo.Transfer("leptomeninges", "csf", kind=mfo.IntraCavity),
    ]
    return mfo.Model(organs, carriers, transfers, name="breast -> CNS")


def main(figure: str = "breast_cns.png"):
    model = build()
    ds = mfo.simulate(model, 3650.0, saveat=mfo.every(5.0))
    print(
        f"death at day {float(ds.death_time):.0f}: {ds.cause_of_death.values} "
        f"({ds.death_condition.values})"
    )
    print("organ failures in order (day, organ, condition):")
    failures = ds.failure_time_by_mechanism.to_series().dropna().sort_values()
    for (organ, mechanism), t in failures.items():
        condition = model.organs[model.organ_names.index(organ)].failure.label(mechanism)
        print(f"  {t:7.0f}  {organ:14s} {condition}")
    first = ds.colonies.sum("origin").where(ds.colonies.sum("origin") >= 1)
    for organ in ("brain", "leptomeninges"):
        t = first.sel(organ=organ).dropna("time").time
        if t.size:
            print(f"first expected colony in the {organ}: day {float(t[0]):.0f}")

    years = ds.time / 365.25
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for organ in model.organ_names:
        top.semilogy(years, ds.burden.sel(organ=organ), label=organ)
    top.set_ylim(1.0, None)
    top.set_ylabel("tumour cells")
    top.legend(fontsize=8)
    top.set_title("breast primary: brain and leptomeningeal metastasis")
    csf = ds.fluid_volume.sel(carrier="csf")
    bottom.plot(years, csf, label="CSF volume")
    limit = model.organs[model.organ_names.index("leptomeninges")].failure.fluid_volume
    bottom.axhline(float(limit), ls="--", color="k", lw=0.8, label="hydrocephalus level")
    bottom.set_ylabel("CSF volume (mL)")
    bottom.set_xlabel("years since the first cancer cell")
    bottom.legend(fontsize=8)
    if math.isfinite(float(ds.death_time)):
        for ax in (top, bottom):
            ax.axvline(float(ds.death_time) / 365.25, color="r", lw=0.8)
    fig.tight_layout()
    fig.savefig(figure, dpi=120)
    print(f"wrote {figure}")
    return ds


if __name__ == "__main__":
    main(*sys.argv[1:])
