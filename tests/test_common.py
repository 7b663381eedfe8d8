"""scikit-learn's estimator checks, run centrally for every registered detector.

Detectors come from the one registry, ``skssad.profiles``, in their
``tiny`` profile, and the seed ensemble around a fast seeded detector. No
check is skipped by tags or marked as an expected failure.
"""

import ast
import inspect
import sys

import pytest
from sklearn.ensemble import IsolationForest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skssad.ensemble import SeedEnsemble
from skssad.profiles import REGISTRY, all_detectors, make_detector

ESTIMATORS = [make_detector(name, "tiny") for name in sorted(REGISTRY)]
# the seed ensemble of skssad.ensemble, around a fast seeded detector
ESTIMATORS.append(SeedEnsemble(IsolationForest(n_estimators=10), n_members=2, random_state=0))


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name,cls", all_detectors())
def test_each_detector_module_defines_exactly_one_public_class(name, cls):
    """detectors/ holds wiring: nets, tasks, losses and helpers live in their own modules."""
    tree = ast.parse(inspect.getsource(sys.modules[cls.__module__]))
    public = [node.name for node in tree.body
              if isinstance(node, ast.ClassDef) and not node.name.startswith("_")]
    assert public == [cls.__name__]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_detector_has_the_three_profiles(name):
    assert {"tiny", "quick", "paper"} <= set(REGISTRY[name])
