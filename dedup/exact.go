package dedup

// Exact remembers the normalised hashes of the texts added to it. It is not
// safe for concurrent use: decisions depend on the order of Add calls.
type Exact struct {
	first map[uint64]string
}

// NewExact returns an empty exact-duplicate set.
func NewExact() *Exact { return &Exact{first: map[uint64]string{}} }

// Check returns the ID of the earlier text that s duplicates, if any.
func (e *Exact) Check(s string) (firstID string, dup bool) {
	firstID, dup = e.first[Hash(s)]
	return firstID, dup
}

// Add records s under id unless an equal text is already held; it returns
// the ID of the first holder and whether s was a duplicate.
func (e *Exact) Add(id, s string) (firstID string, dup bool) {
	h := Hash(s)
	if f, ok := e.first[h]; ok {
		return f, true
	}
	e.first[h] = id
	return id, false
}

// Len returns the number of distinct texts held.
func (e *Exact) Len() int { return len(e.first) }
