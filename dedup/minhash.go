package dedup

import (
	"errors"
	"fmt"
	"math"
)

// Defaults of near-duplicate detection.
const (
	DefaultThreshold    = 0.8
	DefaultPermutations = 128
	DefaultShingleSize  = 3
)

// MinHashOptions configure a MinHash index. Zero fields take the defaults.
type MinHashOptions struct {
	Threshold    float64 // Jaccard similarity at or above which texts are near duplicates
	Permutations int     // signature length; more is slower and more accurate
	Unit         Unit    // Words (default) or Chars
	ShingleSize  int     // units per shingle
	Seed         uint64  // derives the permutations; the same seed gives the same decisions
	// Bands and Rows override the LSH banding chosen from Threshold; both or neither.
	Bands, Rows int
	// SpillDir, when set, keeps the signatures and IDs in temporary files
	// there instead of in memory: they are most of the index, and only the
	// candidates of a shared band and the IDs of matches are read back. The
	// files are unlinked at once where the system allows, so even a killed
	// process leaves none.
	SpillDir string
	// Capacity, when known, is about how many texts will be added: the
	// band tables are made that size at once instead of doubling up to it.
	Capacity int
}

func (o MinHashOptions) withDefaults() (MinHashOptions, error) {
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.Permutations == 0 {
		o.Permutations = DefaultPermutations
	}
	if o.Unit == "" {
		o.Unit = Words
	}
	if o.ShingleSize == 0 {
		o.ShingleSize = DefaultShingleSize
	}
	switch {
	case o.Threshold <= 0 || o.Threshold > 1:
		return o, fmt.Errorf("dedup: threshold %v outside (0, 1]", o.Threshold)
	case o.Permutations < 2 || o.Permutations > 1024:
		return o, fmt.Errorf("dedup: permutations %d outside [2, 1024]", o.Permutations)
	case o.Unit != Words && o.Unit != Chars:
		return o, fmt.Errorf("dedup: shingle unit %q, want %q or %q", o.Unit, Words, Chars)
	case o.ShingleSize < 1:
		return o, fmt.Errorf("dedup: shingle size %d < 1", o.ShingleSize)
	case (o.Bands == 0) != (o.Rows == 0):
		return o, fmt.Errorf("dedup: set both bands and rows, or neither")
	case o.Bands*o.Rows > o.Permutations:
		return o, fmt.Errorf("dedup: bands×rows %d×%d exceeds %d permutations", o.Bands, o.Rows, o.Permutations)
	}
	if o.Bands == 0 {
		o.Bands, o.Rows = Banding(o.Threshold, o.Permutations)
	}
	return o, nil
}

// Banding chooses LSH bands and rows (bands×rows ≤ perms) for a Jaccard
// threshold the way datasketch does: minimising the equally weighted areas of
// false positives (pairs below t that share a band) and false negatives
// (pairs above t that share none) under the S-curve 1-(1-s^r)^b.
func Banding(threshold float64, perms int) (bands, rows int) {
	best := math.Inf(1)
	for b := 1; b <= perms; b++ {
		for r := 1; b*r <= perms; r++ {
			fp := integrate(func(s float64) float64 { return 1 - math.Pow(1-math.Pow(s, float64(r)), float64(b)) }, 0, threshold)
			fn := integrate(func(s float64) float64 { return math.Pow(1-math.Pow(s, float64(r)), float64(b)) }, threshold, 1)
			if e := fp + fn; e < best {
				best, bands, rows = e, b, r
			}
		}
	}
	return bands, rows
}

func integrate(f func(float64) float64, a, b float64) float64 {
	const n = 100
	h := (b - a) / n
	sum := (f(a) + f(b)) / 2
	for i := 1; i < n; i++ {
		sum += f(a + float64(i)*h)
	}
	return sum * h
}

// splitmix64 is a bijective mixer: XOR with a per-permutation seed followed
// by it acts as a random permutation of 64-bit shingle hashes, cheaper than
// a·x+b mod p and without its weak low bits.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Signature is a MinHash signature: per permutation, the minimum over the
// shingles, truncated to 32 bits to halve the memory of a large index (the
// extra collisions, 2^-32 per slot, are far below the estimate's noise).
type Signature []uint32

// Jaccard estimates the Jaccard similarity of the sets behind a and b: the
// fraction of equal slots.
func (a Signature) Jaccard(b Signature) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	eq := 0
	for i := range a {
		if a[i] == b[i] {
			eq++
		}
	}
	return float64(eq) / float64(len(a))
}

// Hasher computes signatures. It is immutable and safe for concurrent use.
//
// Permutation i maps a shingle hash x to the high 32 bits of a[i]·x + b[i]
// (mod 2^64, a[i] odd): the multiply-add-shift family, which is universal
// and costs one multiply per slot. Shingle hashes are already mixed, so the
// family's weakness on structured keys does not arise.
type Hasher struct {
	a, b []uint64
}

// NewHasher returns a Hasher with perms permutations derived from seed.
func NewHasher(perms int, seed uint64) *Hasher {
	h := &Hasher{a: make([]uint64, perms), b: make([]uint64, perms)}
	s := seed
	for i := range h.a {
		s = splitmix64(s)
		h.a[i] = s | 1
		s = splitmix64(s)
		h.b[i] = s
	}
	return h
}

// Sign returns the signature of a shingle set, nil for an empty one.
func (h *Hasher) Sign(shingles []uint64) Signature {
	if len(shingles) == 0 {
		return nil
	}
	sig := make(Signature, len(h.a))
	for i := range sig {
		sig[i] = math.MaxUint32
	}
	a, b := h.a, h.b[:len(h.a)]
	for _, x := range shingles {
		for i := range sig {
			if v := uint32((a[i]*x + b[i]) >> 32); v < sig[i] {
				sig[i] = v
			}
		}
	}
	return sig
}

// Match is an earlier text found near a query.
type Match struct {
	ID      string
	Jaccard float64 // estimated from the signatures
}

// MinHash is an LSH index of MinHash signatures. Check a text, then Add it
// if it is kept: the first occurrence of a cluster holds it, so decisions
// depend on the order of Add calls. It is not safe for concurrent use.
//
// Its memory per text is about 17 bytes per band (a 12-byte slot in a
// table at most 70% full when Capacity is right), plus the signature (4
// bytes per permutation) and the ID unless MinHashOptions.SpillDir moves
// them to files, which leaves 16 bytes of offsets.
type MinHash struct {
	opts    MinHashOptions
	hasher  *Hasher
	ids     idList
	sigs    sigStore
	buckets []hashTable    // per band: band hash → the items in that bucket
	seen    map[int32]bool // Check's scratch
	buf     Signature      // Check's scratch for a signature read back
}

// NewMinHash returns an empty index. Close it to remove its spill file.
func NewMinHash(opts MinHashOptions) (*MinHash, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &MinHash{opts: o, hasher: NewHasher(o.Permutations, o.Seed), buckets: make([]hashTable, o.Bands),
		seen: map[int32]bool{}, buf: make(Signature, o.Permutations)}
	m.sigs.perms = o.Permutations
	if o.SpillDir != "" {
		if m.sigs.file, err = newSpillFile(o.SpillDir, "minhash-*.sig"); err != nil {
			return nil, err
		}
		m.sigs.raw = make([]byte, 4*o.Permutations)
		if m.ids.file, err = newSpillFile(o.SpillDir, "minhash-*.ids"); err != nil {
			m.sigs.file.close()
			return nil, err
		}
	}
	for i := range m.buckets {
		m.buckets[i].reserve(o.Capacity)
	}
	return m, nil
}

// Close releases the spill file, if any. The index must not be used after.
func (m *MinHash) Close() error { return errors.Join(m.sigs.file.close(), m.ids.file.close()) }

// Options returns the options in effect, defaults and banding filled in.
func (m *MinHash) Options() MinHashOptions { return m.opts }

// Len returns the number of texts held.
func (m *MinHash) Len() int { return m.ids.len() }

// Bytes returns the memory the index holds, the spilled signatures not counted.
func (m *MinHash) Bytes() int {
	n := m.ids.bytes() + m.sigs.bytes()
	for i := range m.buckets {
		n += m.buckets[i].bytes()
	}
	return n
}

// Signature shingles s and signs it with the index's settings.
func (m *MinHash) Signature(s string) Signature {
	return m.hasher.Sign(Shingles(s, m.opts.Unit, m.opts.ShingleSize))
}

func (m *MinHash) bandKey(sig Signature, b int) uint64 {
	h := uint64(14695981039346656037)
	for _, v := range sig[b*m.opts.Rows : (b+1)*m.opts.Rows] {
		h ^= uint64(v)
		h *= 1099511628211
	}
	return splitmix64(h)
}

// Check returns the earliest-added text whose estimated Jaccard similarity
// to sig reaches the threshold, among those sharing an LSH band with it.
// Candidates are verified against the signatures, so a shared band alone
// never makes a duplicate. An error comes only from reading spilled
// signatures back.
func (m *MinHash) Check(sig Signature) (Match, bool, error) {
	if len(sig) == 0 {
		return Match{}, false, nil
	}
	best := int32(-1)
	var bestJ float64
	var err error
	clear(m.seen)
	for b := range m.buckets {
		m.buckets[b].each(m.bandKey(sig, b), func(it int32) bool {
			// A later item cannot beat the earliest match so far: skip
			// reading its signature.
			if m.seen[it] || (best >= 0 && it > best) {
				return true
			}
			m.seen[it] = true
			var other Signature
			if other, err = m.sigs.at(int(it), m.buf); err != nil {
				return false
			}
			if j := sig.Jaccard(other); j >= m.opts.Threshold && (best < 0 || it < best) {
				best, bestJ = it, j
			}
			return true
		})
		if err != nil {
			return Match{}, false, err
		}
	}
	if best < 0 {
		return Match{}, false, nil
	}
	id, err := m.ids.at(int(best))
	if err != nil {
		return Match{}, false, err
	}
	return Match{ID: id, Jaccard: bestJ}, true, nil
}

// Add inserts a signature under id. Empty signatures are not held. An
// error comes only from writing signatures to the spill file; the index is
// then unusable.
func (m *MinHash) Add(id string, sig Signature) error {
	if len(sig) == 0 {
		return nil
	}
	if len(sig) != m.opts.Permutations {
		return fmt.Errorf("dedup: signature of %d slots in an index of %d permutations", len(sig), m.opts.Permutations)
	}
	if m.ids.len() == math.MaxInt32-1 {
		return fmt.Errorf("dedup: MinHash index full at %d texts", m.ids.len())
	}
	it := int32(m.ids.len())
	if err := m.sigs.add(sig); err != nil {
		return err
	}
	if err := m.ids.add(id); err != nil {
		return err
	}
	for b := range m.buckets {
		m.buckets[b].insert(m.bandKey(sig, b), it)
	}
	return nil
}
