package dedup

// Exact remembers the normalised hashes of the texts added to it. It is not
// safe for concurrent use: decisions depend on the order of Add calls.
type Exact struct {
	first hashTable // hash → index of the first holder in ids
	ids   idList
}

// NewExact returns an empty exact-duplicate set held in memory.
func NewExact() *Exact { return &Exact{} }

// NewExactIn returns an empty exact-duplicate set that keeps the IDs of
// its texts in a temporary file in dir, reading one back only for a
// duplicate, and whose table is sized for about capacity texts (0: grown
// as they come). Close it to release the file.
func NewExactIn(dir string, capacity int) (*Exact, error) {
	f, err := newSpillFile(dir, "exact-*.ids")
	if err != nil {
		return nil, err
	}
	e := &Exact{ids: idList{file: f}}
	e.first.reserve(capacity)
	return e, nil
}

// Close releases the file of NewExactIn; the set must not be used after.
func (e *Exact) Close() error { return e.ids.file.close() }

// Check returns the ID of the earlier text that s duplicates, if any. An
// error comes only from reading a spilled ID back.
func (e *Exact) Check(s string) (firstID string, dup bool, err error) {
	return e.CheckHash(Hash(s))
}

// CheckHash is Check for a text whose Hash is h: for callers that
// normalise the text for more than this.
func (e *Exact) CheckHash(h uint64) (firstID string, dup bool, err error) {
	if i, ok := e.first.get(h); ok {
		id, err := e.ids.at(int(i))
		return id, err == nil, err
	}
	return "", false, nil
}

// Add records s under id unless an equal text is already held; it returns
// the ID of the first holder and whether s was a duplicate. An error comes
// only from the spill file.
func (e *Exact) Add(id, s string) (firstID string, dup bool, err error) {
	return e.AddHash(id, Hash(s))
}

// AddHash is Add for a text whose Hash is h.
func (e *Exact) AddHash(id string, h uint64) (firstID string, dup bool, err error) {
	if i, ok := e.first.get(h); ok {
		id, err := e.ids.at(int(i))
		return id, err == nil, err
	}
	if err := e.ids.add(id); err != nil {
		return "", false, err
	}
	e.first.insert(h, int32(e.ids.len()-1))
	return id, false, nil
}

// Len returns the number of distinct texts held.
func (e *Exact) Len() int { return e.ids.len() }

// Bytes returns the memory the set holds.
func (e *Exact) Bytes() int { return e.first.bytes() + e.ids.bytes() }
