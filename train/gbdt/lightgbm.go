package gbdt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// lightgbmObjective is the objective line LightGBM (and leaves) expect.
func lightgbmObjective(objective string, K int) string {
	switch objective {
	case BinaryLogistic:
		return "binary sigmoid:1"
	case MultiSoftprob, MultiSoftmax:
		return fmt.Sprintf("multiclass num_class:%d", K)
	}
	return "regression"
}

// lightgbmName makes a feature name safe for LightGBM's space-separated
// feature_names line.
func lightgbmName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r', '=', ':', ',', '"', '[', ']', '{', '}':
			return '_'
		}
		return r
	}, s)
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// SaveLightGBM writes the model in LightGBM's text model format (v3): it
// loads in LightGBM and in github.com/dmitryikh/leaves. The base score is
// folded into the first round's leaves; missing values (NaN) follow each
// split's learned default direction (decision_type missing=NaN).
func (b *Booster) SaveLightGBM(w io.Writer) error {
	K := b.cfg.numClass
	blocks := make([]string, len(b.trees))
	sizes := make([]string, len(b.trees))
	for i, t := range b.trees {
		add := 0.0
		if i < K {
			add = b.baseMargin
		}
		blocks[i] = fmt.Sprintf("Tree=%d\n", i) + lightgbmTree(t, add) + "\n"
		sizes[i] = strconv.Itoa(len(blocks[i]))
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "tree\nversion=v3\nnum_class=%d\nnum_tree_per_iteration=%d\nlabel_index=0\nmax_feature_idx=%d\n", K, K, len(b.features)-1)
	fmt.Fprintf(bw, "objective=%s\n", lightgbmObjective(b.cfg.objective, K))
	names := make([]string, len(b.features))
	for j, f := range b.features {
		names[j] = lightgbmName(f)
	}
	infos := b.infos
	if len(infos) != len(b.features) {
		infos = slices.Repeat([]string{"none"}, len(b.features))
	}
	fmt.Fprintf(bw, "feature_names=%s\nfeature_infos=%s\ntree_sizes=%s\n\n", strings.Join(names, " "), strings.Join(infos, " "), strings.Join(sizes, " "))
	for _, blk := range blocks {
		bw.WriteString(blk)
	}
	bw.WriteString("end of trees\n\nfeature_importances:\n")
	for _, fc := range b.sortedFeatureCounts() {
		fmt.Fprintf(bw, "%s=%d\n", lightgbmName(fc.name), fc.count)
	}
	bw.WriteString("\nparameters:\n")
	fmt.Fprintf(bw, "[boosting: gbdt]\n[objective: %s]\n[learning_rate: %s]\n[num_class: %d]\n", strings.Fields(lightgbmObjective(b.cfg.objective, K))[0], fmtFloat(b.cfg.eta), K)
	fmt.Fprintf(bw, "[max_depth: %d]\n[num_leaves: %d]\n[min_sum_hessian_in_leaf: %s]\n[lambda_l1: %s]\n[lambda_l2: %s]\n[min_gain_to_split: %s]\n[max_bin: %d]\n",
		b.cfg.maxDepth, b.cfg.maxLeaves, fmtFloat(b.cfg.minChildWeight), fmtFloat(b.cfg.alpha), fmtFloat(b.cfg.lambda), fmtFloat(b.cfg.gamma), b.cfg.maxBin)
	bw.WriteString("end of parameters\n\npandas_categorical:null\n")
	return bw.Flush()
}

// lightgbmTree renders one tree's body, ending in "shrinkage=...\n\n".
func lightgbmTree(t *tree, add float64) string {
	// Number internal nodes and leaves in depth-first order; the root is
	// internal node 0. Children: internal index, or ^leaf for a leaf.
	internal := map[int]int{}
	leaf := map[int]int{}
	var order []int
	var walk func(i int)
	walk = func(i int) {
		if t.nodes[i].left < 0 {
			leaf[i] = len(leaf)
			return
		}
		internal[i] = len(order)
		order = append(order, i)
		walk(int(t.nodes[i].left))
		walk(int(t.nodes[i].right))
	}
	walk(0)
	leafVals := make([]string, len(leaf))
	leafHess := make([]string, len(leaf))
	for i, li := range leaf {
		leafVals[li] = fmtFloat(t.nodes[i].value + add)
		leafHess[li] = fmtFloat(t.nodes[i].hess)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "num_leaves=%d\nnum_cat=0\n", len(leaf))
	if len(order) > 0 {
		ref := func(i int32) string {
			if t.nodes[i].left < 0 {
				return strconv.Itoa(^leaf[int(i)])
			}
			return strconv.Itoa(internal[int(i)])
		}
		cols := make([][]string, 8)
		for _, i := range order {
			nd := t.nodes[i]
			dt := 8 // missing type NaN
			if nd.defaultLeft {
				dt |= 2
			}
			cols[0] = append(cols[0], strconv.Itoa(int(nd.feature)))
			cols[1] = append(cols[1], fmtFloat(nd.gain))
			cols[2] = append(cols[2], fmtFloat(nd.threshold))
			cols[3] = append(cols[3], strconv.Itoa(dt))
			cols[4] = append(cols[4], ref(nd.left))
			cols[5] = append(cols[5], ref(nd.right))
			cols[6] = append(cols[6], fmtFloat(nd.value+add))
			cols[7] = append(cols[7], fmtFloat(nd.hess))
		}
		keys := []string{"split_feature", "split_gain", "threshold", "decision_type", "left_child", "right_child"}
		for j, k := range keys {
			fmt.Fprintf(&sb, "%s=%s\n", k, strings.Join(cols[j], " "))
		}
		fmt.Fprintf(&sb, "leaf_value=%s\nleaf_weight=%s\n", strings.Join(leafVals, " "), strings.Join(leafHess, " "))
		fmt.Fprintf(&sb, "internal_value=%s\ninternal_weight=%s\n", strings.Join(cols[6], " "), strings.Join(cols[7], " "))
	} else {
		fmt.Fprintf(&sb, "leaf_value=%s\n", leafVals[0])
	}
	fmt.Fprintf(&sb, "is_linear=0\nshrinkage=%s\n\n", fmtFloat(t.shrinkage))
	return sb.String()
}

// LoadBooster reads a model written by SaveLightGBM (or a LightGBM model
// whose splits are all numerical with NaN as the missing type) back into a
// Booster, e.g. to continue training with WithInitModel. Feature names are
// those of the file, where SaveLightGBM replaced spaces and punctuation by
// "_"; BoosterFromCheckpoint restores the original names.
func LoadBooster(r io.Reader) (*Booster, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: LightGBM model: %s", ErrInvalidInput, fmt.Sprintf(format, a...))
	}
	blocks := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n\n")
	kv := func(block string) map[string]string {
		m := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			m[k] = v
		}
		return m
	}
	header := kv(blocks[0])
	if _, ok := header["tree"]; !ok {
		return nil, bad("no \"tree\" header")
	}
	K, err := strconv.Atoi(header["num_class"])
	if err != nil || K < 1 {
		return nil, bad("num_class %q", header["num_class"])
	}
	params := Params{}
	switch obj := header["objective"]; {
	case strings.HasPrefix(obj, "binary"):
		params["objective"] = BinaryLogistic
	case strings.HasPrefix(obj, "multiclass"):
		params["objective"], params["num_class"] = MultiSoftprob, K
	case strings.HasPrefix(obj, "regression"):
		params["objective"] = RegSquaredError
	default:
		return nil, bad("objective %q cannot be trained further", obj)
	}
	cfg, err := parseParams(params)
	if err != nil {
		return nil, err
	}
	if cfg.numClass != K {
		return nil, bad("objective %q with num_class %d", header["objective"], K)
	}
	b := &Booster{cfg: cfg, params: params, features: strings.Fields(header["feature_names"]), bestIter: -1}
	if infos := strings.Fields(header["feature_infos"]); len(infos) == len(b.features) {
		b.infos = infos
	}
	for _, blk := range blocks[1:] {
		blk = strings.TrimSpace(blk)
		if blk == "" {
			continue
		}
		if strings.HasPrefix(blk, "end of trees") {
			break
		}
		m := kv(blk)
		if _, ok := m["Tree"]; !ok {
			return nil, bad("expected a Tree= block, got %.40q", blk)
		}
		t, err := parseLightGBMTree(m, len(b.features))
		if err != nil {
			return nil, bad("tree %s: %v", m["Tree"], err)
		}
		b.trees = append(b.trees, t)
	}
	if len(b.trees) == 0 || len(b.trees)%K != 0 {
		return nil, bad("%d trees for %d classes", len(b.trees), K)
	}
	return b, nil
}

func parseLightGBMTree(m map[string]string, F int) (*tree, error) {
	L, err := strconv.Atoi(m["num_leaves"])
	if err != nil || L < 1 {
		return nil, fmt.Errorf("num_leaves %q", m["num_leaves"])
	}
	if c := m["num_cat"]; c != "" && c != "0" {
		return nil, fmt.Errorf("categorical splits are not supported")
	}
	floats := func(key string, n int, required bool) ([]float64, error) {
		f := strings.Fields(m[key])
		if len(f) == 0 && !required {
			return make([]float64, n), nil
		}
		if len(f) != n {
			return nil, fmt.Errorf("%s has %d values, want %d", key, len(f), n)
		}
		out := make([]float64, n)
		for i, s := range f {
			if out[i], err = strconv.ParseFloat(s, 64); err != nil {
				return nil, fmt.Errorf("%s: %v", key, err)
			}
		}
		return out, nil
	}
	ints := func(key string, n int) ([]int, error) {
		f := strings.Fields(m[key])
		if len(f) != n {
			return nil, fmt.Errorf("%s has %d values, want %d", key, len(f), n)
		}
		out := make([]int, n)
		for i, s := range f {
			if out[i], err = strconv.Atoi(s); err != nil {
				return nil, fmt.Errorf("%s: %v", key, err)
			}
		}
		return out, nil
	}
	t := &tree{shrinkage: 1}
	if sh, err := strconv.ParseFloat(m["shrinkage"], 64); err == nil {
		t.shrinkage = sh
	}
	leafVal, err := floats("leaf_value", L, true)
	if err != nil {
		return nil, err
	}
	leafW, err := floats("leaf_weight", L, false)
	if err != nil {
		return nil, err
	}
	if L == 1 {
		t.nodes = []tnode{{left: -1, right: -1, value: leafVal[0], hess: leafW[0]}}
		return t, nil
	}
	N := L - 1
	feat, err1 := ints("split_feature", N)
	dt, err2 := ints("decision_type", N)
	lc, err3 := ints("left_child", N)
	rc, err4 := ints("right_child", N)
	thr, err5 := floats("threshold", N, true)
	gain, err6 := floats("split_gain", N, false)
	ival, err7 := floats("internal_value", N, false)
	iw, err8 := floats("internal_weight", N, false)
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8); err != nil {
		return nil, err
	}
	// Internal node i is nodes[i]; leaf j is nodes[N+j].
	t.nodes = make([]tnode, N+L)
	ref := func(c int) (int32, error) {
		if c >= 0 && c < N {
			return int32(c), nil
		}
		if c < 0 && ^c < L {
			return int32(N + ^c), nil
		}
		return 0, fmt.Errorf("child %d out of range", c)
	}
	for i := range N {
		if dt[i]&1 != 0 || (dt[i]>>2)&3 != 2 {
			return nil, fmt.Errorf("node %d: decision_type %d (only numerical splits with missing type NaN)", i, dt[i])
		}
		if feat[i] < 0 || feat[i] >= F {
			return nil, fmt.Errorf("node %d: feature %d out of range", i, feat[i])
		}
		l, err := ref(lc[i])
		if err != nil {
			return nil, err
		}
		r, err := ref(rc[i])
		if err != nil {
			return nil, err
		}
		t.nodes[i] = tnode{left: l, right: r, feature: int32(feat[i]), threshold: thr[i], defaultLeft: dt[i]&2 != 0,
			gain: gain[i], hess: iw[i], value: ival[i]}
	}
	for j := range L {
		t.nodes[N+j] = tnode{left: -1, right: -1, value: leafVal[j], hess: leafW[j]}
	}
	return t, nil
}
