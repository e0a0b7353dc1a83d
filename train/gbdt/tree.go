package gbdt

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/goray/goray/train"
)

// binPair is a fixed-point gradient/hessian pair (value * 2^scale).
type binPair struct{ g, h int64 }

// featHist is one feature's histogram: value bins 0..254 and missingBin.
type featHist [256]binPair

// hist holds every feature's histogram for one node.
type hist []featHist

type splitInfo struct {
	valid       bool
	feature     int
	bin         int // value bins <= bin go left
	defaultLeft bool
	gain        float64
	gl, hl      int64
}

// gnode is a node while a tree grows. Its rows are rows[begin:end] of the
// grower, on this worker; g and h are global sums.
type gnode struct {
	g, h        int64
	depth       int
	begin, end  int
	left, right int // -1: leaf
	split       splitInfo
	hist        hist
}

// tree is a finished regression tree; nodes[0] is the root.
type tree struct {
	nodes     []tnode
	shrinkage float64 // eta the tree was trained with
}

type tnode struct {
	left, right int32 // -1: leaf
	feature     int32
	bin         uint8 // value bins <= bin go left
	defaultLeft bool  // where missing values go
	threshold   float64
	gain        float64 // loss change of the split
	hess        float64 // hessian sum (cover)
	value       float64 // leaf output (eta applied); for internal nodes the would-be leaf output
}

// leafBinned returns the leaf index reached by a binned row.
func (t *tree) leafBinned(row []uint8) int {
	i := 0
	for {
		n := &t.nodes[i]
		if n.left < 0 {
			return i
		}
		b := row[n.feature]
		var left bool
		if b == missingBin {
			left = n.defaultLeft
		} else {
			left = b <= n.bin
		}
		if left {
			i = int(n.left)
		} else {
			i = int(n.right)
		}
	}
}

// grower builds trees on one worker's binned rows.
type grower struct {
	c        *config
	F        int
	cuts     []featureCuts
	bins     []uint8 // row-major, 8 bytes of spare capacity
	binsT    []uint8 // the same bins column-major (feature j of row i at j*n+i), for partitioning
	n        int     // rows on this worker
	nthread  int
	red      train.Collective
	rows     []int32 // row partition: each node owns rows[begin:end]
	scratch  []int32
	gh       []ghPair // quantized gradients of the current tree, by row
	invScale float64
	featMask []bool // features usable by the current tree (colsample_bytree)
	nodes    []gnode
	free     []hist
	redBuf   []int64
}

func (gr *grower) newHist() hist {
	if n := len(gr.free); n > 0 {
		h := gr.free[n-1]
		gr.free = gr.free[:n-1]
		return h
	}
	return make(hist, gr.F)
}

func (gr *grower) release(h hist) {
	if h != nil {
		gr.free = append(gr.free, h)
	}
}

func (gr *grower) toFloat(v int64) float64 { return float64(v) * gr.invScale }

func thresholdL1(g, alpha float64) float64 {
	switch {
	case g > alpha:
		return g - alpha
	case g < -alpha:
		return g + alpha
	}
	return 0
}

// calcGain is XGBoost's CalcGain without max_delta_step.
func (gr *grower) calcGain(g, h float64) float64 {
	if h < gr.c.minChildWeight {
		return 0
	}
	t := thresholdL1(g, gr.c.alpha)
	return t * t / (h + gr.c.lambda)
}

// calcWeight is XGBoost's CalcWeight without max_delta_step.
func (gr *grower) calcWeight(g, h float64) float64 {
	if h < gr.c.minChildWeight || h <= 0 {
		return 0
	}
	return -thresholdL1(g, gr.c.alpha) / (h + gr.c.lambda)
}

// ghPair is one row's quantized gradient and hessian.
type ghPair struct{ g, h int32 }

// gatherBlock is the number of rows accumulate gathers at a time.
const gatherBlock = 64

// accumulate adds the gradients of rows (ascending) to h. This is the hot
// loop. bins must have at least 8 bytes of capacity past its length.
//
// Rows close together are read in place. Sparse rows (a deep node's) are
// first gathered, a block at a time, into a small contiguous buffer: the
// gather loop is short, so many cache misses are in flight at once, and the
// adding loop then runs from L1.
func accumulate(h hist, bins []uint8, F int, rows []int32, gh []ghPair) {
	if F == 0 || len(h) < F || len(rows) == 0 {
		return
	}
	base := unsafe.Pointer(&h[0])
	span := int(rows[len(rows)-1]) - int(rows[0]) + 1
	if span <= 2*len(rows) || F > 64 {
		for _, r := range rows {
			p := gh[r]
			g, hh := int64(p.g), int64(p.h)
			off := int(r) * F
			addRow(base, bins[off:off+F:off+F], g, hh)
		}
		return
	}
	S := (F + 7) &^ 7 // row stride in the buffer
	W := S / 8
	var buf [gatherBlock * 64]byte
	var gbuf [gatherBlock]ghPair
	src := unsafe.Pointer(unsafe.SliceData(bins))
	_ = bins[:cap(bins)][int(rows[len(rows)-1])*F+S-1] // the over-read stays inside the allocation
	for len(rows) > 0 {
		m := min(gatherBlock, len(rows))
		for k, r := range rows[:m] {
			gbuf[k] = gh[r]
			s := unsafe.Add(src, int(r)*F)
			d := unsafe.Pointer(&buf[k*S])
			for w := range W {
				*(*uint64)(unsafe.Add(d, w*8)) = *(*uint64)(unsafe.Add(s, w*8))
			}
		}
		rows = rows[m:]
		for k := range m {
			p := gbuf[k]
			g, hh := int64(p.g), int64(p.h)
			addRow(base, buf[k*S:k*S+F:k*S+F], g, hh)
		}
	}
}

// addRow adds (g, h) to the bins of one row; base is the histogram. Four
// features per step; offsets stay inside the histogram (checkptr-clean).
func addRow(base unsafe.Pointer, rb []uint8, g, h int64) {
	const fs = 256 * int(unsafe.Sizeof(binPair{})) // bytes per feature
	const bs = int(unsafe.Sizeof(binPair{}))
	f := 0
	for ; f+4 <= len(rb); f += 4 {
		b := rb[f : f+4 : f+4]
		o := f * fs
		e0 := (*binPair)(unsafe.Add(base, o+int(b[0])*bs))
		e1 := (*binPair)(unsafe.Add(base, o+fs+int(b[1])*bs))
		e2 := (*binPair)(unsafe.Add(base, o+2*fs+int(b[2])*bs))
		e3 := (*binPair)(unsafe.Add(base, o+3*fs+int(b[3])*bs))
		e0.g += g
		e0.h += h
		e1.g += g
		e1.h += h
		e2.g += g
		e2.h += h
		e3.g += g
		e3.h += h
	}
	for ; f < len(rb); f++ {
		e := (*binPair)(unsafe.Add(base, f*fs+int(rb[f])*bs))
		e.g += g
		e.h += h
	}
}

// buildHists builds the histograms of nodes ids over their local rows, in
// parallel, then sums them over all workers.
func (gr *grower) buildHists(ctx context.Context, ids []int) error {
	total := 0
	for _, id := range ids {
		n := &gr.nodes[id]
		n.hist = gr.newHist()
		total += n.end - n.begin
	}
	T := gr.nthread
	if total < 16384*T {
		T = 1
	}
	if T == 1 {
		for _, id := range ids {
			n := &gr.nodes[id]
			clear(n.hist)
			accumulate(n.hist, gr.bins, gr.F, gr.rows[n.begin:n.end], gr.gh)
		}
	} else {
		type part struct {
			id     int
			lo, hi int
			dst    hist
			owner  bool
		}
		plans := make([][]part, T)
		off := 0
		for _, id := range ids {
			n := &gr.nodes[id]
			ln := n.end - n.begin
			if ln == 0 {
				clear(n.hist)
				continue
			}
			for t := range T {
				a, b := t*total/T, (t+1)*total/T
				lo, hi := max(a, off), min(b, off+ln)
				if lo >= hi {
					continue
				}
				p := part{id: id, lo: n.begin + lo - off, hi: n.begin + hi - off, owner: a <= off}
				if p.owner {
					p.dst = n.hist
				} else {
					p.dst = gr.newHist()
				}
				plans[t] = append(plans[t], p)
			}
			off += ln
		}
		parallel(T, T, func(t int) {
			for _, p := range plans[t] {
				clear(p.dst)
				accumulate(p.dst, gr.bins, gr.F, gr.rows[p.lo:p.hi], gr.gh)
			}
		})
		for _, plan := range plans {
			for _, p := range plan {
				if !p.owner {
					addHist(gr.nodes[p.id].hist, p.dst)
					gr.release(p.dst)
				}
			}
		}
	}
	if gr.red == nil || gr.red.Size() == 1 {
		return nil
	}
	per := gr.F * 256 * 2
	need := per * len(ids)
	if cap(gr.redBuf) < need {
		gr.redBuf = make([]int64, need)
	}
	buf := gr.redBuf[:need]
	for i, id := range ids {
		copy(buf[i*per:(i+1)*per], histInts(gr.nodes[id].hist))
	}
	if err := gr.red.AllReduceInt64(ctx, buf, train.Sum); err != nil {
		return err
	}
	for i, id := range ids {
		copy(histInts(gr.nodes[id].hist), buf[i*per:(i+1)*per])
	}
	return nil
}

// histInts views a hist as int64s (g, h interleaved).
func histInts(h hist) []int64 {
	if len(h) == 0 {
		return nil
	}
	return unsafe.Slice((*int64)(unsafe.Pointer(&h[0])), len(h)*256*2)
}

func addHist(dst, src hist) {
	d, s := histInts(dst), histInts(src)
	s = s[:len(d)]
	for i := range d {
		d[i] += s[i]
	}
}

// subHist sets dst = dst - src.
func subHist(dst, src hist) {
	d, s := histInts(dst), histInts(src)
	s = s[:len(d)]
	for i := range d {
		d[i] -= s[i]
	}
}

// evaluate finds the best split of each node (in parallel).
func (gr *grower) evaluate(ids []int) {
	parallel(gr.nthread, len(ids), func(i int) { gr.evaluateNode(&gr.nodes[ids[i]]) })
}

func (gr *grower) evaluateNode(n *gnode) {
	n.split = splitInfo{}
	c := gr.c
	if c.maxDepth > 0 && n.depth >= c.maxDepth {
		return
	}
	G, H := gr.toFloat(n.g), gr.toFloat(n.h)
	parentGain := gr.calcGain(G, H)
	best := splitInfo{gain: 0}
	mcw := c.minChildWeight
	for f := range gr.F {
		if !gr.featMask[f] {
			continue
		}
		fh := &n.hist[f]
		nb := gr.cuts[f].nb()
		miss := fh[missingBin]
		hasMiss := miss.g != 0 || miss.h != 0
		var gl, hl int64
		for t := range nb {
			gl += fh[t].g
			hl += fh[t].h
			// Missing values go right.
			if hl > 0 && n.h-hl > 0 {
				fl, fhl := gr.toFloat(gl), gr.toFloat(hl)
				fr, fhr := gr.toFloat(n.g-gl), gr.toFloat(n.h-hl)
				if fhl >= mcw && fhr >= mcw {
					gain := gr.calcGain(fl, fhl) + gr.calcGain(fr, fhr) - parentGain
					if gain > best.gain {
						best = splitInfo{valid: true, feature: f, bin: t, gain: gain, gl: gl, hl: hl}
					}
				}
			}
			if !hasMiss || t == nb-1 {
				continue
			}
			// Missing values go left.
			mgl, mhl := gl+miss.g, hl+miss.h
			if mhl > 0 && n.h-mhl > 0 {
				fl, fhl := gr.toFloat(mgl), gr.toFloat(mhl)
				fr, fhr := gr.toFloat(n.g-mgl), gr.toFloat(n.h-mhl)
				if fhl >= mcw && fhr >= mcw {
					gain := gr.calcGain(fl, fhl) + gr.calcGain(fr, fhr) - parentGain
					if gain > best.gain {
						best = splitInfo{valid: true, feature: f, bin: t, defaultLeft: true, gain: gain, gl: mgl, hl: mhl}
					}
				}
			}
		}
	}
	const rtEps = 1e-6
	if best.valid && best.gain > rtEps && best.gain >= c.gamma {
		n.split = best
	}
}

// splitNodes creates the children of ids and partitions their rows.
// It returns the new node ids, two per parent (left, right).
func (gr *grower) splitNodes(ids []int) []int {
	out := make([]int, 0, 2*len(ids))
	for _, id := range ids {
		p := gr.nodes[id]
		l := gnode{g: p.split.gl, h: p.split.hl, depth: p.depth + 1, left: -1, right: -1}
		r := gnode{g: p.g - p.split.gl, h: p.h - p.split.hl, depth: p.depth + 1, left: -1, right: -1}
		gr.nodes = append(gr.nodes, l, r)
		li := len(gr.nodes) - 2
		gr.nodes[id].left, gr.nodes[id].right = li, li+1
		out = append(out, li, li+1)
	}
	gr.partition(ids)
	return out
}

// partition splits each node's rows into its children's, stably, in parallel.
func (gr *grower) partition(ids []int) {
	const chunk = 32768
	type task struct {
		node   int
		lo, hi int
		nl     int
	}
	var tasks []task
	first := make([]int, len(ids)+1) // tasks of ids[i] are tasks[first[i]:first[i+1]]
	for i, id := range ids {
		n := &gr.nodes[id]
		first[i] = len(tasks)
		for lo := n.begin; lo < n.end; lo += chunk {
			tasks = append(tasks, task{node: id, lo: lo, hi: min(n.end, lo+chunk)})
		}
	}
	first[len(ids)] = len(tasks)
	parallel(gr.nthread, len(tasks), func(i int) {
		t := &tasks[i]
		n := &gr.nodes[t.node]
		f := n.split.feature
		col := gr.binsT[f*gr.n : (f+1)*gr.n]
		var goLeft [256]int
		for b := 0; b <= n.split.bin; b++ {
			goLeft[b] = 1
		}
		if n.split.defaultLeft {
			goLeft[missingBin] = 1
		}
		// Branch-free: write each row at both ends, advance one of them.
		nl, last := 0, t.hi-t.lo-1
		sc := gr.scratch[t.lo:t.hi]
		for _, r := range gr.rows[t.lo:t.hi] {
			l := goLeft[col[r]]
			sc[nl] = r
			sc[last] = r
			nl += l
			last -= 1 - l
		}
		t.nl = nl
	})
	// Child segments.
	for i, id := range ids {
		nl := 0
		for _, t := range tasks[first[i]:first[i+1]] {
			nl += t.nl
		}
		n := &gr.nodes[id]
		l, r := &gr.nodes[n.left], &gr.nodes[n.right]
		l.begin, l.end = n.begin, n.begin+nl
		r.begin, r.end = n.begin+nl, n.end
	}
	parallel(gr.nthread, len(ids), func(i int) {
		n := &gr.nodes[ids[i]]
		lpos, rpos := n.begin, gr.nodes[n.left].end
		for _, t := range tasks[first[i]:first[i+1]] {
			sc := gr.scratch[t.lo:t.hi]
			lpos += copy(gr.rows[lpos:], sc[:t.nl])
			for j := len(sc) - 1; j >= t.nl; j-- {
				gr.rows[rpos] = sc[j]
				rpos++
			}
		}
	})
}

// expand splits ids, builds the children's histograms (the smaller child
// directly, its sibling by subtraction from the parent) and evaluates them.
func (gr *grower) expand(ctx context.Context, ids []int) ([]int, error) {
	children := gr.splitNodes(ids)
	// Children at max_depth stay leaves: no histograms needed.
	var parents, small []int
	for i, id := range ids {
		l, r := children[2*i], children[2*i+1]
		if gr.c.maxDepth > 0 && gr.nodes[l].depth >= gr.c.maxDepth {
			gr.release(gr.nodes[id].hist)
			gr.nodes[id].hist = nil
			continue
		}
		parents = append(parents, id)
		if gr.nodes[l].h <= gr.nodes[r].h {
			small = append(small, l)
		} else {
			small = append(small, r)
		}
	}
	if len(parents) == 0 {
		return children, nil
	}
	if err := gr.buildHists(ctx, small); err != nil {
		return nil, err
	}
	evalIDs := make([]int, 0, 2*len(parents))
	for i, id := range parents {
		l, r := gr.nodes[id].left, gr.nodes[id].right
		big := l
		if small[i] == l {
			big = r
		}
		ph := gr.nodes[id].hist
		gr.nodes[id].hist = nil
		subHist(ph, gr.nodes[small[i]].hist)
		gr.nodes[big].hist = ph
		evalIDs = append(evalIDs, l, r)
	}
	gr.evaluate(evalIDs)
	return children, nil
}

// grow builds one tree over rows[:nrows].
func (gr *grower) grow(ctx context.Context, nrows int) (*tree, error) {
	gr.nodes = gr.nodes[:0]
	gr.nodes = append(gr.nodes, gnode{begin: 0, end: nrows, left: -1, right: -1})
	if err := gr.buildHists(ctx, []int{0}); err != nil {
		return nil, err
	}
	root := &gr.nodes[0]
	fh := &root.hist[0]
	for b := range gr.cuts[0].nb() {
		root.g += fh[b].g
		root.h += fh[b].h
	}
	root.g += fh[missingBin].g
	root.h += fh[missingBin].h
	gr.evaluate([]int{0})
	var err error
	if gr.c.lossguide {
		err = gr.growLossguide(ctx)
	} else {
		err = gr.growDepthwise(ctx)
	}
	for i := range gr.nodes {
		gr.release(gr.nodes[i].hist)
		gr.nodes[i].hist = nil
	}
	if err != nil {
		return nil, err
	}
	return gr.finish(), nil
}

func (gr *grower) growDepthwise(ctx context.Context) error {
	frontier := []int{0}
	leaves := 1
	for len(frontier) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		var ids []int
		for _, id := range frontier {
			n := &gr.nodes[id]
			if n.split.valid && (gr.c.maxLeaves == 0 || leaves < gr.c.maxLeaves) {
				ids = append(ids, id)
				leaves++
			} else {
				gr.release(n.hist)
				n.hist = nil
			}
		}
		if len(ids) == 0 {
			return nil
		}
		var err error
		if frontier, err = gr.expand(ctx, ids); err != nil {
			return err
		}
	}
	return nil
}

func (gr *grower) growLossguide(ctx context.Context) error {
	var open []int
	if gr.nodes[0].split.valid {
		open = append(open, 0)
	}
	leaves := 1
	for len(open) > 0 && (gr.c.maxLeaves == 0 || leaves < gr.c.maxLeaves) {
		if err := ctx.Err(); err != nil {
			return err
		}
		bi := 0
		for i, id := range open {
			if gr.nodes[id].split.gain > gr.nodes[open[bi]].split.gain {
				bi = i
			}
		}
		id := open[bi]
		open = append(open[:bi], open[bi+1:]...)
		children, err := gr.expand(ctx, []int{id})
		if err != nil {
			return err
		}
		leaves++
		for _, ch := range children {
			if gr.nodes[ch].split.valid {
				open = append(open, ch)
			} else {
				gr.release(gr.nodes[ch].hist)
				gr.nodes[ch].hist = nil
			}
		}
	}
	return nil
}

// finish converts the grown nodes into a tree (same indices).
func (gr *grower) finish() *tree {
	t := &tree{nodes: make([]tnode, len(gr.nodes)), shrinkage: gr.c.eta}
	for i := range gr.nodes {
		n := &gr.nodes[i]
		G, H := gr.toFloat(n.g), gr.toFloat(n.h)
		tn := tnode{left: -1, right: -1, hess: H, value: gr.c.eta * gr.calcWeight(G, H)}
		if n.left >= 0 {
			s := n.split
			tn.left, tn.right = int32(n.left), int32(n.right)
			tn.feature = int32(s.feature)
			tn.bin = uint8(s.bin)
			tn.defaultLeft = s.defaultLeft
			tn.threshold = gr.cuts[s.feature].threshold(s.bin)
			tn.gain = s.gain
		}
		t.nodes[i] = tn
	}
	return t
}

// setScale picks the fixed-point scale for gradients bounded by maxAbs
// over nGlobal rows: |q| < 2^30 and every sum of q below 2^62. It depends
// only on values every worker shares.
func (gr *grower) setScale(maxAbs float64, nGlobal int64) float64 {
	s := 0
	if maxAbs > 0 {
		_, e := math.Frexp(maxAbs) // maxAbs < 2^e
		bitsN := 0
		for v := nGlobal; v > 0; v >>= 1 {
			bitsN++
		}
		s = min(30-e, 62-bitsN-e)
	}
	gr.invScale = math.Ldexp(1, -s)
	return math.Ldexp(1, s)
}

// quantize converts float gradients to 31-bit fixed point with a scale
// that is the same on every worker and keeps every histogram sum below
// 2^62. bound, if > 0, is a known bound on |g| and h (no data pass needed).
func (gr *grower) quantize(ctx context.Context, g, h []float64, rows []int32, nGlobal int64, bound float64) error {
	maxAbs := bound
	if maxAbs <= 0 {
		for _, r := range rows {
			if a := g[r]; a > maxAbs {
				maxAbs = a
			} else if -a > maxAbs {
				maxAbs = -a
			}
			if h[r] > maxAbs {
				maxAbs = h[r]
			}
		}
		if gr.red != nil && gr.red.Size() > 1 {
			all, err := gr.red.AllGather(ctx, binary.LittleEndian.AppendUint64(nil, math.Float64bits(maxAbs)))
			if err != nil {
				return err
			}
			for _, x := range all {
				if len(x) == 8 {
					maxAbs = math.Max(maxAbs, math.Float64frombits(binary.LittleEndian.Uint64(x)))
				}
			}
		}
	}
	if math.IsInf(maxAbs, 0) || math.IsNaN(maxAbs) {
		return fmt.Errorf("%w: gradients are not finite (labels or base_score too large?)", ErrInvalidInput)
	}
	scale := gr.setScale(maxAbs, nGlobal)
	const chunk = 65536
	parallel(gr.nthread, (len(rows)+chunk-1)/chunk, func(c int) {
		for _, r := range rows[c*chunk : min(len(rows), (c+1)*chunk)] {
			gr.gh[r] = ghPair{int32(g[r] * scale), int32(h[r] * scale)}
		}
	})
	return nil
}
