import metaflow_ode as mfo  # noqa: F401  (enables float64 before any test builds arrays)
