"""Noise models of measurements, for [`fit`][metaflow_ode.fit] and the Bayesian path.

`mfo.noise.LogNormal(sigma, detection_limit)` (imaging volumes and diameters, burdens),
`Marker(scale=..., offset=..., sigma=...)` (serum markers; give its numbers by keyword),
`Poisson()` and `NegativeBinomial(dispersion)` (lesion counts, circulating tumour cells),
`Bernoulli()` (autopsy involvement), `EventTime(sigma)` (organ-failure and death times with
right-censoring).
"""

from ._fit._noise import AbstractNoise as AbstractNoise
from ._fit._noise import Bernoulli as Bernoulli
from ._fit._noise import EventTime as EventTime
from ._fit._noise import LogNormal as LogNormal
from ._fit._noise import Marker as Marker
from ._fit._noise import NegativeBinomial as NegativeBinomial
from ._fit._noise import Poisson as Poisson
