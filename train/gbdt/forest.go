package gbdt

import (
	"fmt"
	"math"

	"github.com/dmitryikh/leaves/util"
)

// forest is a tree ensemble compiled for batch scoring. Each tree's nodes
// are stored breadth-first with the two children of a node side by side
// (right = left+1), and a leaf is a node that leads to itself whatever the
// input, so every row walks a tree in exactly its depth steps with no
// data-dependent branch; rows are scored in blocks, tree by tree, so the
// walks of a block's rows overlap in the CPU.
//
// Its predictions are bit-identical to leaves reading the LightGBM text of
// the same trees (what SaveLightGBM writes): the same decision (NaN goes
// the learned default way, otherwise value <= threshold goes left), the
// leaves' values as the text stores them, per-row sums in tree order
// starting from 0, and leaves' own sigmoid and softmax.
type forest struct {
	nodes     []fnode
	values    []float64 // by node: the leaf value (0 for internal nodes)
	roots     []int32   // first node of each tree
	depths    []uint8   // steps from the root to the deepest leaf
	numClass  int
	numFeat   int
	transform int // forestRaw, forestSigmoid or forestSoftmax
}

const (
	forestRaw = iota
	forestSigmoid
	forestSoftmax
)

// fnode is one node: its threshold and the absolute index of its left
// child (the right child follows it). The top bit of feat is the default
// direction of missing values (1: left).
type fnode struct {
	threshold float64
	feat      uint32
	left      uint32
}

const defaultLeftBit = 1 << 31

// maxForestDepth bounds the walk (and a malformed model's recursion).
const maxForestDepth = 255

// compileForest compiles trees (round-major, K per round) whose first K
// trees get add added to their leaf values, as SaveLightGBM writes them.
func compileForest(trees []*tree, K, numFeat int, add float64, objective string) (*forest, error) {
	f := &forest{numClass: K, numFeat: numFeat, roots: make([]int32, len(trees)), depths: make([]uint8, len(trees))}
	switch objective {
	case BinaryLogistic:
		f.transform = forestSigmoid
	case MultiSoftprob, MultiSoftmax:
		f.transform = forestSoftmax
	}
	type item struct {
		src   int32 // node in t.nodes
		dst   int   // slot in f.nodes
		depth int
	}
	for ti, t := range trees {
		if len(t.nodes) == 0 {
			return nil, fmt.Errorf("tree %d has no nodes", ti)
		}
		a := 0.0
		if ti < K {
			a = add
		}
		root := len(f.nodes)
		f.roots[ti] = int32(root)
		f.nodes = append(f.nodes, fnode{})
		f.values = append(f.values, 0)
		queue := []item{{0, root, 0}}
		seen := make([]bool, len(t.nodes))
		depth := 0
		for len(queue) > 0 {
			it := queue[0]
			queue = queue[1:]
			if it.src < 0 || int(it.src) >= len(t.nodes) || seen[it.src] {
				return nil, fmt.Errorf("tree %d: node %d is out of range or reached twice", ti, it.src)
			}
			seen[it.src] = true
			nd := &t.nodes[it.src]
			if nd.left < 0 {
				// A leaf: threshold +Inf and default left send every value,
				// NaN included, to its left child, which is itself.
				f.nodes[it.dst] = fnode{threshold: math.Inf(1), feat: defaultLeftBit, left: uint32(it.dst)}
				f.values[it.dst] = nd.value + a
				depth = max(depth, it.depth)
				continue
			}
			if it.depth >= maxForestDepth {
				return nil, fmt.Errorf("tree %d is deeper than %d", ti, maxForestDepth)
			}
			if nd.feature < 0 || int(nd.feature) >= numFeat {
				return nil, fmt.Errorf("tree %d: node %d splits on feature %d of %d", ti, it.src, nd.feature, numFeat)
			}
			left := len(f.nodes)
			f.nodes = append(f.nodes, fnode{}, fnode{})
			f.values = append(f.values, 0, 0)
			feat := uint32(nd.feature)
			if nd.defaultLeft {
				feat |= defaultLeftBit
			}
			f.nodes[it.dst] = fnode{threshold: nd.threshold, feat: feat, left: uint32(left)}
			queue = append(queue, item{nd.left, left, it.depth + 1}, item{nd.right, left + 1, it.depth + 1})
		}
		f.depths[ti] = uint8(depth)
	}
	return f, nil
}

// forestBlock is the rows scored together, tree by tree.
const forestBlock = 64

// predictRows scores n rows, row i's feature j being x[i*stride+j]
// (row-major) or, when cols is not nil, cols[j][base+i]; it writes
// numClass values per row to out: transformed unless raw.
func (f *forest) predictRows(x []float64, stride int, cols [][]float64, base, n int, out []float64, raw bool) {
	K := f.numClass
	var idx [forestBlock]uint32
	var vals [forestBlock]float64
	for lo := 0; lo < n; lo += forestBlock {
		rows := min(forestBlock, n-lo)
		acc := out[lo*K : (lo+rows)*K]
		clear(acc)
		for ti, root := range f.roots {
			k := ti % K
			depth := int(f.depths[ti])
			for r := range rows {
				idx[r] = uint32(root)
			}
			if cols != nil {
				f.walkCols(cols, base+lo, depth, idx[:rows])
			} else {
				f.walkRows(x[lo*stride:], stride, depth, idx[:rows])
			}
			for r := range rows {
				vals[r] = f.values[idx[r]]
			}
			for r := range rows {
				acc[r*K+k] += vals[r]
			}
		}
		if raw {
			continue
		}
		switch f.transform {
		case forestSigmoid:
			for i, v := range acc {
				acc[i] = util.Sigmoid(v)
			}
		case forestSoftmax:
			row := make([]float64, K)
			for r := range rows {
				copy(row, acc[r*K:(r+1)*K])
				util.SoftmaxFloat64Slice(row, acc, r*K)
			}
		}
	}
}

// step is one level of a walk: the child of node nd that value v goes to.
func step(nd *fnode, v float64) uint32 {
	var left uint32
	if v <= nd.threshold {
		left = 1
	}
	if v != v { // NaN: the learned default direction
		left = nd.feat >> 31
	}
	return nd.left + 1 - left
}

func (f *forest) walkRows(x []float64, stride, depth int, idx []uint32) {
	nodes := f.nodes
	mask := uint32(defaultLeftBit - 1)
	for range depth {
		for r := range idx {
			nd := &nodes[idx[r]]
			idx[r] = step(nd, x[r*stride+int(nd.feat&mask)])
		}
	}
}

func (f *forest) walkCols(cols [][]float64, lo, depth int, idx []uint32) {
	nodes := f.nodes
	mask := uint32(defaultLeftBit - 1)
	for range depth {
		for r := range idx {
			nd := &nodes[idx[r]]
			idx[r] = step(nd, cols[nd.feat&mask][lo+r])
		}
	}
}

// forestTask is the rows one goroutine scores at a time.
const forestTask = 1024

// predict scores n rows (as predictRows) on up to nthread goroutines.
func (f *forest) predict(x []float64, stride int, cols [][]float64, base, n int, out []float64, raw bool, nthread int) {
	K := f.numClass
	parallel(nthread, (n+forestTask-1)/forestTask, func(t int) {
		lo, hi := t*forestTask, min(n, (t+1)*forestTask)
		var xs []float64
		if cols == nil {
			xs = x[lo*stride:]
		}
		f.predictRows(xs, stride, cols, base+lo, hi-lo, out[lo*K:hi*K], raw)
	})
}
