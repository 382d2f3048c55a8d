package dedup

// Exact remembers the normalised hashes of the texts added to it. It is not
// safe for concurrent use: decisions depend on the order of Add calls.
type Exact struct {
	first hashTable // hash → index of the first holder in ids
	ids   idList
}

// NewExact returns an empty exact-duplicate set.
func NewExact() *Exact { return &Exact{} }

// Check returns the ID of the earlier text that s duplicates, if any.
func (e *Exact) Check(s string) (firstID string, dup bool) {
	if i, ok := e.first.get(Hash(s)); ok {
		return e.ids.at(int(i)), true
	}
	return "", false
}

// Add records s under id unless an equal text is already held; it returns
// the ID of the first holder and whether s was a duplicate.
func (e *Exact) Add(id, s string) (firstID string, dup bool) {
	h := Hash(s)
	if i, ok := e.first.get(h); ok {
		return e.ids.at(int(i)), true
	}
	e.first.put(h, int32(e.ids.len()))
	e.ids.add(id)
	return id, false
}

// Len returns the number of distinct texts held.
func (e *Exact) Len() int { return e.ids.len() }

// Bytes returns the memory the set holds.
func (e *Exact) Bytes() int { return e.first.bytes() + e.ids.bytes() }
