import os
import tempfile

import jax

import metaflow_ode as mfo  # noqa: F401  (enables float64 before any test builds arrays)

# Many tests compile the same programs (one model and option set in several test files).
# JAX's persistent compilation cache shares the compiled executables between tests and
# between the xdist workers (which inherit the directory through the environment).
_CACHE = os.environ.setdefault(
    "METAFLOW_ODE_TEST_JAX_CACHE", tempfile.mkdtemp(prefix="metaflow-ode-jax-cache-")
)
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
