"""Parameter estimation: observables, noise models, maximum likelihood, profiles, Bayes."""

from ._least_squares import FitResult as FitResult
from ._least_squares import Profile as Profile
from ._least_squares import fit as fit
from ._least_squares import profile_likelihood as profile_likelihood
from ._observables import QUANTITIES as QUANTITIES
