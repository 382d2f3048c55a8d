package dedup

// Compact index storage. A Go map[uint64]int32 costs about 40 bytes an
// entry and a []T that grows by append briefly holds two copies of itself;
// at ten million texts and nine LSH bands those two habits alone needed
// more memory than the machine has. The types here hold the same data in
// flat arrays: 12 bytes a slot for a hash table, and pages that never move.

import "math/bits"

// hashTable maps 64-bit hashes to int32 values with open addressing and
// linear probing; a key may hold several values, each in a slot of its
// own, which is how an LSH band keeps its buckets without a chain. The
// keys are already well mixed, so the high half of key×size picks the
// slot, which lets the size be any number rather than a power of two. A
// zero val marks an empty slot, so values are stored plus one.
type hashTable struct {
	keys []uint64
	vals []int32 // value+1; 0 is empty
	n    int
}

// maxLoad is the fill, in percent, at which a table grows: linear probing
// degrades fast beyond it.
const maxLoad = 75

// reserve sizes an empty table for n keys.
func (t *hashTable) reserve(n int) {
	if t.n == 0 && n > 0 {
		t.resize(n * 100 / (maxLoad - 5))
	}
}

func (t *hashTable) slot(k uint64) int {
	hi, _ := bits.Mul64(k, uint64(len(t.keys)))
	return int(hi)
}

// get returns a value under k: the value, for a key inserted once.
func (t *hashTable) get(k uint64) (int32, bool) {
	if t.n == 0 {
		return 0, false
	}
	for i := t.slot(k); ; {
		switch {
		case t.vals[i] == 0:
			return 0, false
		case t.keys[i] == k:
			return t.vals[i] - 1, true
		}
		if i++; i == len(t.keys) {
			i = 0
		}
	}
}

// each calls fn with the values under k, in no particular order, until
// fn returns false.
func (t *hashTable) each(k uint64, fn func(v int32) bool) {
	if t.n == 0 {
		return
	}
	for i := t.slot(k); t.vals[i] != 0; {
		if t.keys[i] == k && !fn(t.vals[i]-1) {
			return
		}
		if i++; i == len(t.keys) {
			i = 0
		}
	}
}

// insert adds v under k, beside any values k holds already.
func (t *hashTable) insert(k uint64, v int32) {
	if 100*(t.n+1) > maxLoad*len(t.keys) {
		t.resize(max(1024, 2*len(t.keys)))
	}
	i := t.slot(k)
	for t.vals[i] != 0 {
		if i++; i == len(t.keys) {
			i = 0
		}
	}
	t.keys[i], t.vals[i] = k, v+1
	t.n++
}

func (t *hashTable) resize(size int) {
	keys, vals := t.keys, t.vals
	t.keys, t.vals, t.n = make([]uint64, size), make([]int32, size), 0
	for j, v := range vals {
		if v != 0 {
			t.insert(keys[j], v-1)
		}
	}
}

// bytes returns the memory the table holds.
func (t *hashTable) bytes() int { return 12 * len(t.keys) }

// pageBits sets the page size of paged: 64k elements.
const pageBits = 16

// paged is an append-only slice in fixed pages, so growing it never copies
// what it holds.
type paged[T any] struct {
	pages [][]T
	n     int
}

func (p *paged[T]) append(v T) {
	if p.n>>pageBits == len(p.pages) {
		p.pages = append(p.pages, make([]T, 1<<pageBits))
	}
	p.pages[p.n>>pageBits][p.n&(1<<pageBits-1)] = v
	p.n++
}

func (p *paged[T]) at(i int) T { return p.pages[i>>pageBits][i&(1<<pageBits-1)] }

func (p *paged[T]) bytes(elem int) int { return len(p.pages) * elem << pageBits }

// idList holds strings back to back, in byte pages in memory or in a
// spill file, with 8 bytes of position each rather than a 16-byte header
// and an allocation.
type idList struct {
	// In memory, start holds a string's page (high 24 bits), offset and
	// length (20 bits each). Spilled, it holds the string's offset in the
	// file, where the strings are contiguous: a string ends where the next
	// one starts, or at end.
	start paged[uint64]
	data  [][]byte   // in memory: pages of 1 MB; a string never straddles two
	file  *spillFile // nil when in memory
	end   int64
}

const (
	idPage = 1 << 20
	idLong = 1<<20 - 1 // a length that means "the whole page"
)

func (l *idList) add(s string) error {
	if l.file != nil {
		off, err := l.file.append([]byte(s))
		if err != nil {
			return err
		}
		l.start.append(uint64(off))
		l.end = off + int64(len(s))
		return nil
	}
	if len(s) >= idLong {
		// Longer than a length field can say: a page of its own.
		l.data = append(l.data, []byte(s))
		l.start.append(uint64(len(l.data)-1)<<40 | idLong)
		return nil
	}
	if len(l.data) == 0 || len(l.data[len(l.data)-1])+len(s) > cap(l.data[len(l.data)-1]) {
		l.data = append(l.data, make([]byte, 0, idPage))
	}
	last := len(l.data) - 1
	l.start.append(uint64(last)<<40 | uint64(len(l.data[last]))<<20 | uint64(len(s)))
	l.data[last] = append(l.data[last], s...)
	return nil
}

func (l *idList) at(i int) (string, error) {
	v := l.start.at(i)
	if l.file != nil {
		end := l.end
		if i+1 < l.start.n {
			end = int64(l.start.at(i + 1))
		}
		b := make([]byte, end-int64(v))
		if err := l.file.readAt(b, int64(v)); err != nil {
			return "", err
		}
		return string(b), nil
	}
	page, off, n := v>>40, v>>20&idLong, v&idLong
	if n == idLong {
		return string(l.data[page]), nil
	}
	return string(l.data[page][off : off+n]), nil
}

func (l *idList) len() int { return l.start.n }

func (l *idList) bytes() int {
	n := l.start.bytes(8)
	if l.file != nil {
		return n + spillTail
	}
	for _, d := range l.data {
		n += cap(d)
	}
	return n
}
