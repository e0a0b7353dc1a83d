package gbdt

import (
	"bufio"
	"fmt"
	"io"
	"math"
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
		blocks[i] = fmt.Sprintf("Tree=%d\n", i) + lightgbmTree(t, add, b.cfg.eta) + "\n"
		sizes[i] = strconv.Itoa(len(blocks[i]))
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "tree\nversion=v3\nnum_class=%d\nnum_tree_per_iteration=%d\nlabel_index=0\nmax_feature_idx=%d\n", K, K, len(b.features)-1)
	fmt.Fprintf(bw, "objective=%s\n", lightgbmObjective(b.cfg.objective, K))
	names := make([]string, len(b.features))
	infos := make([]string, len(b.features))
	for j, f := range b.features {
		names[j] = lightgbmName(f)
		fc := b.cuts[j]
		if math.IsNaN(fc.min) {
			infos[j] = "none"
		} else {
			infos[j] = "[" + fmtFloat(fc.min) + ":" + fmtFloat(fc.max) + "]"
		}
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
func lightgbmTree(t *tree, add, eta float64) string {
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
	fmt.Fprintf(&sb, "is_linear=0\nshrinkage=%s\n\n", fmtFloat(eta))
	return sb.String()
}
