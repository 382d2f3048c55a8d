package dedup

// Compact index storage. A Go map[uint64]int32 costs about 40 bytes an
// entry and a []T that grows by append briefly holds two copies of itself;
// at ten million texts and nine LSH bands those two habits alone needed
// more memory than the machine has. The types here hold the same data in
// flat arrays: 12 bytes a slot for a hash table, and pages that never move.

// hashTable maps 64-bit hashes to int32 values with open addressing and
// linear probing. The keys are already well mixed, so their low bits pick
// the slot. A zero val marks an empty slot, so values are stored plus one.
type hashTable struct {
	keys []uint64
	vals []int32 // value+1; 0 is empty
	n    int
}

// get returns the value under k.
func (t *hashTable) get(k uint64) (int32, bool) {
	if t.n == 0 {
		return 0, false
	}
	mask := uint64(len(t.keys) - 1)
	for i := k & mask; ; i = (i + 1) & mask {
		switch {
		case t.vals[i] == 0:
			return 0, false
		case t.keys[i] == k:
			return t.vals[i] - 1, true
		}
	}
}

// put sets the value under k and returns the one it replaced.
func (t *hashTable) put(k uint64, v int32) (old int32, had bool) {
	// Grow at 3/4 full: linear probing degrades fast beyond that.
	if 4*(t.n+1) > 3*len(t.keys) {
		t.grow()
	}
	mask := uint64(len(t.keys) - 1)
	for i := k & mask; ; i = (i + 1) & mask {
		switch {
		case t.vals[i] == 0:
			t.keys[i], t.vals[i] = k, v+1
			t.n++
			return 0, false
		case t.keys[i] == k:
			old = t.vals[i] - 1
			t.vals[i] = v + 1
			return old, true
		}
	}
}

func (t *hashTable) grow() {
	size := 1024
	if len(t.keys) > 0 {
		size = 2 * len(t.keys)
	}
	keys, vals := t.keys, t.vals
	t.keys, t.vals, t.n = make([]uint64, size), make([]int32, size), 0
	mask := uint64(size - 1)
	for j, v := range vals {
		if v == 0 {
			continue
		}
		i := keys[j] & mask
		for t.vals[i] != 0 {
			i = (i + 1) & mask
		}
		t.keys[i], t.vals[i] = keys[j], v
		t.n++
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

func (p *paged[T]) set(i int, v T) { p.pages[i>>pageBits][i&(1<<pageBits-1)] = v }

func (p *paged[T]) bytes(elem int) int { return len(p.pages) * elem << pageBits }

// idList holds strings back to back in byte pages, 4 bytes of offset each
// rather than a 16-byte header and an allocation.
type idList struct {
	data  [][]byte // pages of 1 MB; a string never straddles two
	start paged[uint64]
}

const idPage = 1 << 20

func (l *idList) add(s string) {
	const long = 1<<20 - 1 // a length that means "the whole page"
	if len(s) >= long {
		// Longer than an offset can say: a page of its own.
		l.data = append(l.data, []byte(s))
		l.start.append(uint64(len(l.data)-1)<<40 | long)
		return
	}
	if len(l.data) == 0 || len(l.data[len(l.data)-1])+len(s) > cap(l.data[len(l.data)-1]) {
		l.data = append(l.data, make([]byte, 0, idPage))
	}
	last := len(l.data) - 1
	// Page number in the high 24 bits, then 20 bits each of offset and length.
	l.start.append(uint64(last)<<40 | uint64(len(l.data[last]))<<20 | uint64(len(s)))
	l.data[last] = append(l.data[last], s...)
}

func (l *idList) at(i int) string {
	const long = 1<<20 - 1
	v := l.start.at(i)
	page, off, n := v>>40, v>>20&long, v&long
	if n == long {
		return string(l.data[page])
	}
	return string(l.data[page][off : off+n])
}

func (l *idList) len() int { return l.start.n }

func (l *idList) bytes() int {
	n := l.start.bytes(8)
	for _, d := range l.data {
		n += cap(d)
	}
	return n
}
