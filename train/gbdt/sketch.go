package gbdt

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/goray/goray/train"
)

// Bin boundaries.
//
// Each feature's values are summarised by "buckets": the top 24 bits of an
// order-preserving 64-bit key of the value (sign, exponent and 12 mantissa
// bits, so a bucket spans a relative width of 2^-12), with the number of
// values in each bucket. A summary is an exact function of the multiset of
// values and merging summaries is exact (sum the counts), so the bins
// computed from the merged summary of N row shards are the same as those of
// one worker holding all rows. Cuts are placed at bucket upper edges so that
// every bin holds about 1/max_bin of the rows; a feature with at most
// max_bin occupied buckets (small integers, codes, booleans) gets one bin
// per value. Because cuts are bucket edges, a value's bin follows from its
// bucket by table lookup.

// missingBin is the bin index of NaN in every feature; value bins are 0..nb-1 <= 254.
const missingBin = 255

const bucketShift = 40 // key >> 40 = 24-bit bucket

type bucket struct {
	id    uint32
	count int64
}

type featureSummary struct {
	buckets []bucket // sorted by id
	missing int64
}

// featureCuts are one feature's value bins: bin b holds values in
// (cuts[b-1], cuts[b]]; the last bin, nb-1, everything above cuts[nb-2].
type featureCuts struct {
	cuts       []float64
	cutBuckets []uint32 // bucket whose upper edge is cuts[b]
	min, max   float64  // observed range (bucket edges); NaN when the feature has no values
	hasMissing bool
	// Lookup from bucket to bin: binade[id>>12] is either 0x8000|bin when
	// the whole binade falls in one bin, or an index into tables.
	binade [4096]uint16
	tables [][4096]uint8
}

func (fc *featureCuts) nb() int { return len(fc.cuts) + 1 }

// threshold returns the model threshold for "value bin <= b goes left".
func (fc *featureCuts) threshold(b int) float64 {
	if b < len(fc.cuts) {
		return fc.cuts[b]
	}
	return math.MaxFloat64
}

// bin maps a raw value to its bin.
func (fc *featureCuts) bin(x float64) uint8 {
	if x != x { // NaN
		return missingBin
	}
	id := orderedKey(x) >> bucketShift
	e := fc.binade[id>>12]
	if e&0x8000 != 0 {
		return uint8(e)
	}
	return fc.tables[e][id&4095]
}

// bucketEdge is the largest value in bucket id.
func bucketEdge(id uint32) float64 {
	return keyValue(uint64(id)<<bucketShift | (1<<bucketShift - 1))
}

// buildLookup fills binade and tables from cutBuckets.
func (fc *featureCuts) buildLookup() {
	cb := fc.cutBuckets
	j := 0 // cuts with bucket < current
	for t := range uint32(4096) {
		lo, hi := t<<12, t<<12|4095
		for j < len(cb) && cb[j] < lo {
			j++
		}
		// Cuts strictly inside [lo, hi) change the bin within this binade.
		k := j
		for k < len(cb) && cb[k] < hi {
			k++
		}
		if k == j {
			fc.binade[t] = 0x8000 | uint16(j)
			continue
		}
		var tab [4096]uint8
		c := j
		for i := range uint32(4096) {
			for c < len(cb) && cb[c] < lo+i {
				c++
			}
			tab[i] = uint8(c)
		}
		fc.binade[t] = uint16(len(fc.tables))
		fc.tables = append(fc.tables, tab)
	}
}

// summarize builds the bucket summary of one column.
func summarize(col []float64) featureSummary {
	var s featureSummary
	var top [4096]int32
	for _, v := range col {
		if v != v {
			s.missing++
			continue
		}
		top[orderedKey(v)>>52]++
	}
	var slot [4096]int32
	nslots := 0
	for i, c := range top {
		slot[i] = -1
		if c > 0 {
			slot[i] = int32(nslots)
			nslots++
		}
	}
	if nslots > 256 {
		return summarizeSorted(col, s.missing)
	}
	counts := make([]uint32, nslots*4096)
	for _, v := range col {
		if v != v {
			continue
		}
		k := orderedKey(v)
		counts[int(slot[k>>52])*4096+int((k>>bucketShift)&4095)]++
	}
	nonzero := 0
	for _, c := range counts {
		if c > 0 {
			nonzero++
		}
	}
	s.buckets = make([]bucket, 0, nonzero)
	for t := range 4096 {
		sl := slot[t]
		if sl < 0 {
			continue
		}
		for j, c := range counts[int(sl)*4096 : int(sl+1)*4096] {
			if c > 0 {
				s.buckets = append(s.buckets, bucket{id: uint32(t)<<12 | uint32(j), count: int64(c)})
			}
		}
	}
	return s
}

// summarizeSorted is the fallback for values spread over very many binades.
func summarizeSorted(col []float64, missing int64) featureSummary {
	keys := make([]uint64, 0, len(col))
	for _, v := range col {
		if v == v {
			keys = append(keys, orderedKey(v))
		}
	}
	radixSort(keys)
	s := featureSummary{missing: missing}
	for i := 0; i < len(keys); {
		id := keys[i] >> bucketShift
		j := i
		for j < len(keys) && keys[j]>>bucketShift == id {
			j++
		}
		s.buckets = append(s.buckets, bucket{id: uint32(id), count: int64(j - i)})
		i = j
	}
	return s
}

// mergeSummaries combines summaries of disjoint row sets; the result does
// not depend on their order. Summaries are sorted by bucket id (summarize's
// and decodeSummaries' are), so they are merged pairwise in linear time.
func mergeSummaries(parts []featureSummary) featureSummary {
	var out featureSummary
	for i, p := range parts {
		out.missing += p.missing
		if !sortedBuckets(p.buckets) {
			return mergeUnsorted(parts)
		}
		if i == 0 {
			out.buckets = slices.Clone(p.buckets)
		} else {
			out.buckets = mergeBuckets(out.buckets, p.buckets)
		}
	}
	return out
}

// sortedBuckets reports whether bs is sorted by strictly increasing id.
func sortedBuckets(bs []bucket) bool {
	for i := 1; i < len(bs); i++ {
		if bs[i].id <= bs[i-1].id {
			return false
		}
	}
	return true
}

// mergeBuckets merges two bucket lists sorted by id, adding the counts of
// a bucket in both.
func mergeBuckets(a, b []bucket) []bucket {
	out := make([]bucket, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch x, y := a[i], b[j]; {
		case x.id < y.id:
			out = append(out, x)
			i++
		case x.id > y.id:
			out = append(out, y)
			j++
		default:
			out = append(out, bucket{id: x.id, count: x.count + y.count})
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// mergeUnsorted is mergeSummaries for parts whose buckets are not sorted.
func mergeUnsorted(parts []featureSummary) featureSummary {
	var out featureSummary
	var all []bucket
	for _, p := range parts {
		out.missing += p.missing
		all = append(all, p.buckets...)
	}
	slices.SortFunc(all, func(a, b bucket) int { return int64cmp(int64(a.id), int64(b.id)) })
	for _, b := range all {
		if n := len(out.buckets); n > 0 && out.buckets[n-1].id == b.id {
			out.buckets[n-1].count += b.count
			continue
		}
		out.buckets = append(out.buckets, b)
	}
	return out
}

func int64cmp(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cutsFromSummary places at most maxBin value bins.
func cutsFromSummary(s featureSummary, maxBin int) featureCuts {
	fc := featureCuts{min: math.NaN(), max: math.NaN(), hasMissing: s.missing > 0}
	bs := s.buckets
	if len(bs) > 0 {
		fc.max = bucketEdge(bs[len(bs)-1].id)
		fc.min = keyValue(uint64(bs[0].id) << bucketShift)
		if len(bs) <= maxBin {
			for _, b := range bs[:len(bs)-1] {
				fc.cutBuckets = append(fc.cutBuckets, b.id)
			}
		} else {
			var total int64
			for _, b := range bs {
				total += b.count
			}
			var acc, k int64 = 0, 1
			mb := int64(maxBin)
			for _, b := range bs[:len(bs)-1] {
				acc += b.count
				if acc*mb >= k*total {
					fc.cutBuckets = append(fc.cutBuckets, b.id)
					k = acc*mb/total + 1
				}
			}
		}
	}
	for _, id := range fc.cutBuckets {
		fc.cuts = append(fc.cuts, bucketEdge(id))
	}
	fc.buildLookup()
	return fc
}

// encodeSummaries serialises per-feature summaries for AllGather: per
// feature the missing count and the number of buckets, then each bucket's
// id as the difference from the previous id (modulo 2^32; ids are sorted,
// so differences are small) and its count, all as uvarints.
func encodeSummaries(ss []featureSummary) []byte {
	size := binary.MaxVarintLen64
	for _, s := range ss {
		size += 2*binary.MaxVarintLen64 + 4*len(s.buckets)
	}
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(s.missing))
		b = binary.AppendUvarint(b, uint64(len(s.buckets)))
		prev := uint32(0)
		for _, bk := range s.buckets {
			b = binary.AppendUvarint(b, uint64(bk.id-prev))
			b = binary.AppendUvarint(b, uint64(bk.count))
			prev = bk.id
		}
	}
	return b
}

// uvarint decodes one uvarint from b[*pos:] and advances *pos; ok is false
// when b holds no complete one.
func uvarint(b []byte, pos *int) (v uint64, ok bool) {
	if i := *pos; i < len(b) && b[i] < 0x80 { // most ids' differences and counts
		*pos = i + 1
		return uint64(b[i]), true
	}
	v, n := binary.Uvarint(b[*pos:])
	if n <= 0 {
		return 0, false
	}
	*pos += n
	return v, true
}

func decodeSummaries(b []byte) ([]featureSummary, error) {
	bad := fmt.Errorf("gbdt: malformed quantile summary from a peer")
	pos := 0
	nf, ok := uvarint(b, &pos)
	if !ok || nf > 1<<24 {
		return nil, bad
	}
	out := make([]featureSummary, nf)
	for i := range out {
		m, ok1 := uvarint(b, &pos)
		nb, ok2 := uvarint(b, &pos)
		if !ok1 || !ok2 || nb > uint64(len(b)-pos) {
			return nil, bad
		}
		out[i].missing = int64(m)
		bs := make([]bucket, nb)
		prev := uint32(0)
		for j := range bs {
			d, ok1 := uvarint(b, &pos)
			c, ok2 := uvarint(b, &pos)
			id := prev + uint32(d)
			if !ok1 || !ok2 || d >= 1<<32 || id >= 1<<24 {
				return nil, bad
			}
			bs[j] = bucket{id: id, count: int64(c)}
			prev = id
		}
		out[i].buckets = bs
	}
	return out, nil
}

// computeCuts summarises m's columns (in parallel), merges the summaries
// over all workers and returns every feature's bins.
func computeCuts(ctx context.Context, m *Matrix, maxBin, nthread int, red train.Collective) ([]featureCuts, error) {
	F := len(m.features)
	sums := make([]featureSummary, F)
	parallel(nthread, F, func(j int) { sums[j] = summarize(m.cols[j]) })
	if red != nil && red.Size() > 1 {
		all, err := red.AllGather(ctx, encodeSummaries(sums))
		if err != nil {
			return nil, err
		}
		per := make([][]featureSummary, len(all))
		for r, b := range all {
			if per[r], err = decodeSummaries(b); err != nil {
				return nil, err
			}
			if len(per[r]) != F {
				return nil, fmt.Errorf("%w: worker %d has %d features, this worker %d", ErrInvalidInput, r, len(per[r]), F)
			}
		}
		for j := range sums {
			parts := make([]featureSummary, len(per))
			for r := range per {
				parts[r] = per[r][j]
			}
			sums[j] = mergeSummaries(parts)
		}
	}
	cuts := make([]featureCuts, F)
	for j := range cuts {
		cuts[j] = cutsFromSummary(sums[j], maxBin)
	}
	return cuts, nil
}

// binMatrix maps m to row-major uint8 bins (row i, feature j at i*F+j),
// with 8 bytes of spare capacity for accumulate's word reads.
func binMatrix(m *Matrix, cuts []featureCuts, nthread int) []uint8 {
	F := len(cuts)
	n := m.nrows
	out := make([]uint8, n*F, n*F+8)
	const chunk = 16384
	parallel(nthread, (n+chunk-1)/chunk, func(c int) {
		lo, hi := c*chunk, min(n, (c+1)*chunk)
		for j := range F {
			fc := &cuts[j]
			col := m.cols[j][lo:hi]
			for i, v := range col {
				out[(lo+i)*F+j] = fc.bin(v)
			}
		}
	})
	return out
}
