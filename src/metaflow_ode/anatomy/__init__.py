"""Reference human physiology and the whole-body default model.

- [`organ_table`][metaflow_ode.anatomy.organ_table]: reference organs (ICRP Publication 89)
  with volume, share of cardiac output, venous drainage and source per row.
- [`reference_model`][metaflow_ode.anatomy.reference_model]: the whole-body model of a
  primary tumour (`PRIMARIES`: breast, colorectal, lung, prostate, melanoma, pancreas, ovary).
- [`Physiology`][metaflow_ode.anatomy.Physiology], [`Preset`][metaflow_ode.anatomy.Preset],
  [`preset`][metaflow_ode.anatomy.preset], [`soil_factors`][metaflow_ode.anatomy.soil_factors]:
  the numbers behind it, with sources.
- [`cns_routes`][metaflow_ode.anatomy.cns_routes]: the CSF and every route into and within
  the CNS; [`default_failure`][metaflow_ode.anatomy.default_failure] and
  [`FAILURE_DEFAULTS`][metaflow_ode.anatomy.FAILURE_DEFAULTS]: the default failure criteria
  per organ with their sources; `MEYERS_SITES`: the peritoneal pooling sites.
- [`involvement`][metaflow_ode.anatomy.involvement]: organ involvement at death, the quantity
  compared with autopsy series.

Data files are read lazily, on first use.
"""

from ._cns import CNS_ROUTES as CNS_ROUTES
from ._cns import cns_routes as cns_routes
from ._data import organ_table as organ_table
from ._failures import FAILURE_DEFAULTS as FAILURE_DEFAULTS
from ._failures import FailureDefault as FailureDefault
from ._failures import default_failure as default_failure
from ._failures import failure_table as failure_table
from ._involvement import involvement as involvement
from ._involvement import site_organs as site_organs
from ._reference import MEYERS_SITES as MEYERS_SITES
from ._reference import PRIMARIES as PRIMARIES
from ._reference import SITES as SITES
from ._reference import Physiology as Physiology
from ._reference import Preset as Preset
from ._reference import preset as preset
from ._reference import reference_model as reference_model
from ._reference import soil_factors as soil_factors
