"""Why implicit solvers get PI step-size gains: accepted/rejected steps on one Gompertz curve.

Run: `python benchmarks/stiff_controller.py`. Solves `dx/dt = a x ln(b/x)` from 1 cell over
1000 days (a = 0.01 /day, b = 1e11 cells) at rtol = atol = 1e-8 with Kvaerno5 under diffrax's
default (integral) controller and under the gains metaflow_ode uses for implicit solvers, and
prints the step counts and the error against the closed form.
"""

import diffrax as dfx
import jax.numpy as jnp

import metaflow_ode  # noqa: F401  (float64)

A, B, T1 = 0.01, 1e11, 1000.0


def field(t, x, args):
    return A * x * jnp.log(B / x)


def main():
    exact = B * jnp.exp(jnp.log(1.0 / B) * jnp.exp(-A * T1))
    print("| controller | accepted | rejected | relative error |")
    print("|---|---|---|---|")
    for label, gains in (
        ("default (integral)", {}),
        ("pcoeff=0.4, icoeff=0.3", {"pcoeff": 0.4, "icoeff": 0.3}),
    ):
        sol = dfx.diffeqsolve(
            dfx.ODETerm(field),
            dfx.Kvaerno5(),
            0.0,
            T1,
            None,
            jnp.array(1.0),
            None,
            stepsize_controller=dfx.PIDController(rtol=1e-8, atol=1e-8, **gains),
            max_steps=100_000,
        )
        error = float(sol.ys[-1] / exact - 1)
        print(
            f"| {label} | {int(sol.stats['num_accepted_steps'])} | "
            f"{int(sol.stats['num_rejected_steps'])} | {error:.1e} |"
        )


if __name__ == "__main__":
    main()
