"""metaflow_ode: compartment ODE models of primary and secondary metastatic dissemination.

Importing the package enables float64 in JAX (`jax_enable_x64`): cell counts span twelve
orders of magnitude and every result of the library is computed in double precision.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from ._cohort import parse_memory as parse_memory
from ._cohort import simulate_cohort as simulate_cohort
from ._dataset import write_netcdf as write_netcdf
from ._emission import AbstractEmission as AbstractEmission
from ._emission import PowerLaw as PowerLaw
from ._failure import MECHANISMS as MECHANISMS
from ._failure import Failure as Failure
from ._fit import FitResult as FitResult
from ._fit import Profile as Profile
from ._fit import fit as fit
from ._fit import profile_likelihood as profile_likelihood
from ._fluid import Fluid as Fluid
from ._growth import AbstractGrowth as AbstractGrowth
from ._growth import Exponential as Exponential
from ._growth import GeneralisedLogistic as GeneralisedLogistic
from ._growth import Gompertz as Gompertz
from ._growth import Logistic as Logistic
from ._growth import PowerGrowth as PowerGrowth
from ._growth import VonBertalanffy as VonBertalanffy
from ._interventions import AbstractEffect as AbstractEffect
from ._interventions import AbstractIntervention as AbstractIntervention
from ._interventions import Dosing as Dosing
from ._interventions import Drainage as Drainage
from ._interventions import GrowthInhibition as GrowthInhibition
from ._interventions import IatrogenicSpill as IatrogenicSpill
from ._interventions import IntrathecalTherapy as IntrathecalTherapy
from ._interventions import KillRate as KillRate
from ._interventions import LocalAblation as LocalAblation
from ._interventions import Resection as Resection
from ._interventions import SystemicTherapy as SystemicTherapy
from ._model import Carrier as Carrier
from ._model import Model as Model
from ._model import Organ as Organ
from ._model import Transfer as Transfer
from ._model import parameters as parameters
from ._model_file import ModelFile as ModelFile
from ._model_file import ModelFileError as ModelFileError
from ._model_file import model_from_toml as model_from_toml
from ._model_file import model_to_toml as model_to_toml
from ._model_file import read_model as read_model
from ._model_file import write_model as write_model
from ._resolution import Colonies as Colonies
from ._resolution import Lumped as Lumped
from ._resolution.conduits import conduit as conduit
from ._route_kinds import ROUTE_KINDS as ROUTE_KINDS
from ._route_kinds import BrainToCSF as BrainToCSF
from ._route_kinds import ChoroidPlexus as ChoroidPlexus
from ._route_kinds import Haematogenous as Haematogenous
from ._route_kinds import Iatrogenic as Iatrogenic
from ._route_kinds import IntraCavity as IntraCavity
from ._route_kinds import Intraluminal as Intraluminal
from ._route_kinds import IntraOrgan as IntraOrgan
from ._route_kinds import Lymphatic as Lymphatic
from ._route_kinds import PerContinuitatem as PerContinuitatem
from ._route_kinds import Perineural as Perineural
from ._route_kinds import PerineuralOptic as PerineuralOptic
from ._route_kinds import PerineuralSpinal as PerineuralSpinal
from ._route_kinds import Perivascular as Perivascular
from ._route_kinds import PerivascularEmissary as PerivascularEmissary
from ._route_kinds import RouteKind as RouteKind
from ._population import cause_of_death_shares as cause_of_death_shares
from ._population import kaplan_meier as kaplan_meier
from ._population import time_to_visible as time_to_visible
from ._routes import dissemination_matrix as dissemination_matrix
from ._sampling import AbstractDistribution as AbstractDistribution
from ._sampling import Fixed as Fixed
from ._sampling import LogNormal as LogNormal
from ._sampling import Normal as Normal
from ._sampling import TruncatedNormal as TruncatedNormal
from ._sampling import Uniform as Uniform
from ._sampling import sample_patients as sample_patients
from ._simulate import SaveTimes as SaveTimes
from ._simulate import Solution as Solution
from ._simulate import SolverError as SolverError
from ._simulate import at as at
from ._simulate import every as every
from ._simulate import simulate as simulate
from ._simulate import solve as solve
from ._staging import STAGES as STAGES
from ._staging import StageRule as StageRule
from ._staging import StagingRules as StagingRules
from ._staging import stage as stage
from . import anatomy as anatomy
from . import noise as noise
from . import parameter_sets as parameter_sets

__version__ = "0.1.0"

# Bayesian fitting needs the optional `bayes` extra (numpyro, arviz): imported on first use.
_BAYES = ("BayesianModel", "numpyro_model", "prediction_bands", "sample_posterior")


def __getattr__(name: str):
    if name in _BAYES:
        try:
            from ._fit import _bayes
        except ImportError as error:  # pragma: no cover - depends on the environment
            if (error.name or "").split(".")[0] not in ("numpyro", "arviz"):
                raise
            raise ImportError(
                f"`metaflow_ode.{name}` needs numpyro and arviz: "
                '`pip install "metaflow_ode[bayes]"`.'
            ) from error
        return getattr(_bayes, name)
    raise AttributeError(f"module 'metaflow_ode' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_BAYES])
