# Generates sklearn_breast_cancer.json: reference values from scikit-learn
# for the breast cancer tests. Run once by hand (Debian python3-sklearn,
# scikit-learn 1.2.1, numpy 1.24, scipy 1.10):
#   /usr/bin/python3 preprocess/testdata/gen_sklearn_golden.py
# The tests only read the JSON; nothing runs Python at test time.
import csv, json, os, warnings
import numpy as np
import sklearn
from sklearn.preprocessing import (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler,
                                   PowerTransformer, KBinsDiscretizer, Normalizer)

warnings.filterwarnings("ignore")
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "breast_cancer.csv")) as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
feats = header[:-1]
X = np.array([[float(v) for v in r[:-1]] for r in body])
out = {"sklearn": sklearn.__version__, "columns": feats}
s = StandardScaler().fit(X)
out["standard"] = {"mean": s.mean_.tolist(), "scale": s.scale_.tolist(), "first_rows": s.transform(X[:3]).tolist()}
m = MinMaxScaler().fit(X)
out["minmax"] = {"min": m.data_min_.tolist(), "max": m.data_max_.tolist(), "first_rows": m.transform(X[:3]).tolist()}
m = MaxAbsScaler().fit(X)
out["maxabs"] = {"max_abs": m.max_abs_.tolist()}
r = RobustScaler().fit(X)
out["robust"] = {"center": r.center_.tolist(), "scale": r.scale_.tolist(), "first_rows": r.transform(X[:3]).tolist()}
p = PowerTransformer().fit(X)
out["yeo_johnson"] = {"lambdas": p.lambdas_.tolist(), "first_rows": p.transform(X[:3]).tolist()}
positive = [i for i in range(X.shape[1]) if (X[:, i] > 0).all()]
p = PowerTransformer(method="box-cox").fit(X[:, positive])
out["box_cox"] = {"columns": [feats[i] for i in positive], "lambdas": p.lambdas_.tolist(),
                  "first_rows": p.transform(X[:3, positive]).tolist()}
out["nonpositive_columns"] = [feats[i] for i in range(X.shape[1]) if i not in positive]
for strat in ("uniform", "quantile"):
    k = KBinsDiscretizer(n_bins=5, encode="ordinal", strategy=strat).fit(X)
    out["kbins_" + strat] = {"edges": [e.tolist() for e in k.bin_edges_], "first_rows": k.transform(X[:3]).tolist()}
cols3 = [0, 1, 2]
for norm in ("l1", "l2", "max"):
    out["normalize_" + norm] = Normalizer(norm=norm).fit_transform(X[:3, cols3]).tolist()
out["normalize_columns"] = [feats[i] for i in cols3]
with open(os.path.join(here, "sklearn_breast_cancer.json"), "w") as f:
    json.dump(out, f, indent=1)
