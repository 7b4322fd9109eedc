"""Statistics for comparing quant variants: intervals, difference tests, equivalence tests and power.

The functions wrap statsmodels and scipy and add what those libraries leave to the caller:
what to return when a test cannot be run, and the direction of every difference.

Conventions used throughout:
- `a` is the reference arm (the baseline, or the higher-precision rung of an adjacent pair) and
  `b` is the arm compared with it. Differences are b − a, so a quality loss is negative.
- When a quantity cannot be computed (too few values, zero variance, n = 0), the result is None
  and a `reason` string says why. It is never a default number that could pass for a result.
- Binary per-item correctness is 0/1. Accuracies are proportions (0–1); names ending in `_pp`
  are percentage points.

One module per concern: intervals.py (Wilson, t, bootstrap), difference.py (Welch, McNemar, Cohen's
d, flip rate, Holm/Bonferroni), tost.py (equivalence), power.py (minimum detectable effects),
spread.py (Levene, coefficient of variation), compare.py (all of them for a whole run). The package
namespace is the API (`from ..analysis import stats; stats.tost(...)`).
"""
from .compare import compare_variants, margin_label
from .difference import (MCNEMAR_EXACT_BELOW, P_VALUE_CORRECTIONS, McNemarResult, WelchResult, cohens_d,
                         correct_pvalues, flip_rate, mcnemar_test, welch_test)
from .intervals import Interval, bootstrap_interval, t_interval, wilson_interval
from .power import minimum_detectable_effect, minimum_detectable_effect_paired
from .spread import LeveneResult, coefficient_of_variation, levene_test
from .tost import TOST_MARGINS, TostResult, tost, tost_paired, tost_paired_binary

__all__ = [
    "MCNEMAR_EXACT_BELOW", "P_VALUE_CORRECTIONS", "TOST_MARGINS", "Interval", "LeveneResult", "McNemarResult",
    "TostResult", "WelchResult", "bootstrap_interval", "coefficient_of_variation", "cohens_d", "compare_variants",
    "correct_pvalues", "flip_rate", "levene_test", "margin_label", "mcnemar_test", "minimum_detectable_effect",
    "minimum_detectable_effect_paired", "t_interval", "tost", "tost_paired", "tost_paired_binary", "welch_test", "wilson_interval",
]
