# Regenerates the xgboost_* files with XGBoost 1.7.4 (Debian python3-xgboost).
# The breast-cancer rows are the training split of gbdt_test.go (splitSeed 8),
# written by the test helper as train8.csv/test8.csv (features..., label).
import sys
import numpy as np, xgboost as xgb

d = sys.argv[1]
tr = np.loadtxt(d + '/train8.csv', delimiter=','); te = np.loadtxt(d + '/test8.csv', delimiter=',')
bst = xgb.train({'objective': 'binary:logistic', 'max_depth': 4, 'eta': 0.3, 'tree_method': 'hist'},
                xgb.DMatrix(tr[:, :-1], label=tr[:, -1]), 10)
bst.save_model('xgboost_breast_cancer.model')  # legacy binary format
np.savetxt('xgboost_breast_cancer_pred.txt', bst.predict(xgb.DMatrix(te[:, :-1])), fmt='%.9g')

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 4)); y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
b2 = xgb.train({'objective': 'multi:softprob', 'num_class': 3, 'max_depth': 3, 'tree_method': 'hist'},
               xgb.DMatrix(X, label=y), 5)
b2.save_model('xgboost_multi.model')
np.savetxt('xgboost_multi_x.txt', X[:20], fmt='%.17g')
np.savetxt('xgboost_multi_pred.txt', b2.predict(xgb.DMatrix(X[:20])), fmt='%.9g')
