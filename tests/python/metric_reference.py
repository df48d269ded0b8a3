"""Reference numbers for tests/test_metric.cpp ("evaluate: every field against independent
values", 20 examples with ties): scikit-learn's roc_auc_score, average_precision_score and
min(fpr[tpr >= 0.95]) of roc_curve, and AURC / E-AURC from the NumPy transcription of their
definitions in check_metrics_sklearn.py. Run: /usr/bin/python3 tests/python/metric_reference.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_metrics_sklearn  # noqa: E402  (reference() only; its main() is not run)

conf = np.array([0.95, 0.9, 0.9, 0.85, 0.8, 0.8, 0.8, 0.7, 0.65, 0.6,
                 0.6, 0.55, 0.5, 0.4, 0.4, 0.3, 0.2, 0.2, 0.1, 0.05])
correct = np.array([1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0], dtype=np.uint8)
ref = check_metrics_sklearn.reference(conf, correct)
for key in ("n", "errors", "accuracy", "auroc", "fpr95", "aurc", "eaurc", "aupr_error",
            "aupr_success"):
    print(key, repr(ref[key]))
