# Generates sklearn_options.json: scikit-learn's outputs for the options
# OneHotEncoder drop=, OrdinalEncoder handle_unknown="use_encoded_value",
# FeatureHasher / HashingVectorizer (MurmurHash3, alternate_sign),
# LabelEncoder.inverse_transform and SimpleImputer on all-missing columns.
# Run once by hand (Debian python3-sklearn, scikit-learn 1.2.1):
#   /usr/bin/python3 preprocess/testdata/gen_sklearn_options.py
# The tests only read the JSON; nothing runs Python at test time.
import json, os, warnings
import numpy as np
import sklearn
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, OrdinalEncoder
from sklearn.utils import murmurhash3_32

warnings.filterwarnings("ignore")
here = os.path.dirname(os.path.abspath(__file__))
out = {"sklearn": sklearn.__version__}

# Categorical columns: 3 categories, 2 (binary), 1, and integers.
cat_cols = ["color", "bin", "one", "n"]
train = [["red", "yes", "k", 3], ["green", "no", "k", 1], ["blue", "yes", "k", 2],
         ["red", "yes", "k", 3], ["green", "no", "k", 1]]
test = [["green", "no", "k", 2], ["purple", "yes", "z", 9], ["blue", "maybe", "k", 1]]
def cols(rows):
    return [[r[j] for r in rows] for j in range(len(cat_cols))]
out["categorical"] = {"columns": cat_cols, "train": cols(train), "test": cols(test)}
def frame(rows):
    # One object column per feature keeps ints as ints.
    return np.array(rows, dtype=object)
for drop in ("first", "if_binary"):
    e = OneHotEncoder(drop=drop, handle_unknown="ignore", sparse_output=False).fit(frame(train))
    out["onehot_" + drop] = {
        "names": e.get_feature_names_out(cat_cols).tolist(),
        "test": e.transform(frame(test)).astype(int).tolist(),
    }
for unknown in (-1, 7):
    e = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=unknown).fit(frame(train))
    out["ordinal_unknown_%d" % unknown] = e.transform(frame(test)).astype(int).tolist()
try:
    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=2).fit(frame(train))
    out["ordinal_unknown_2_error"] = None
except ValueError as err:
    out["ordinal_unknown_2_error"] = str(err)

# Hashing. Feature names / tokens, ASCII and not.
names = ["hello", "world", "cat", "dog", "a", "the", "café", "日本", "x", "y", "z", "end"]
out["murmur"] = {"tokens": names, "signed": [int(murmurhash3_32(s, seed=0)) for s in names]}
rows = [[1.0, 0, 2, 0, 1, 1, 0, 3, 0.5, 0, 0, 1], [0, 1, 1, 0, 2, 0, 0, 1, 0, 0, 1, 0],
        [3, 2, 0, 1, 0, 0, 1, 0, 0, 2.5, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
out["feature_hasher"] = {"columns": names, "rows": rows}
for alt in (True, False):
    h = FeatureHasher(n_features=5, input_type="dict", alternate_sign=alt)
    X = h.transform([dict(zip(names, r)) for r in rows]).toarray()
    out["feature_hasher"]["alternate_sign" if alt else "plain"] = X.tolist()
docs = ["the cat", "a dog", "the the end", "café 日本 cat", "x y z", "cat cat dog a", "hello world hello"]
out["hashing_vectorizer"] = {"docs": docs}
for alt in (True, False):
    v = HashingVectorizer(n_features=6, norm=None, alternate_sign=alt, analyzer=lambda s: s.split(" "))
    X = v.transform(docs).toarray()
    out["hashing_vectorizer"]["alternate_sign" if alt else "plain"] = X.astype(int).tolist()

# LabelEncoder.inverse_transform.
le = LabelEncoder().fit(["paris", "tokyo", "amsterdam", "paris"])
out["label_inverse"] = {"classes": le.classes_.tolist(), "codes": [2, 0, 1, 1],
                        "labels": le.inverse_transform([2, 0, 1, 1]).tolist()}
le = LabelEncoder().fit([10, -3, 7, 10])
out["label_inverse_int"] = {"codes": [0, 2, 1], "labels": le.inverse_transform([0, 2, 1]).tolist()}

# SimpleImputer with an all-missing middle column.
nan = float("nan")
Xtr = np.array([[1.0, nan, 4.0], [nan, nan, 4.0], [3.0, nan, 1.0], [3.0, nan, nan]])
Xte = np.array([[nan, 5.0, nan], [2.0, nan, 0.5]])
def nonan(a):
    return [[None if v != v else v for v in r] for r in a.tolist()]
out["imputer"] = {"columns": ["a", "empty", "b"], "train": nonan(Xtr.T), "test": nonan(Xte.T)}
for strat in ("mean", "median", "most_frequent"):
    for keep in (False, True):
        s = SimpleImputer(strategy=strat, keep_empty_features=keep).fit(Xtr)
        out["imputer"]["%s_%s" % (strat, "keep" if keep else "drop")] = s.transform(Xte).T.tolist()

with open(os.path.join(here, "sklearn_options.json"), "w") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
