package dedup

import (
	"encoding/binary"
	"fmt"
	"os"
)

// sigsPerPage is how many signatures a page of sigStore holds: 2 MB at
// the default 128 permutations.
const sigsPerPage = 4096

// sigStore holds the signatures of a MinHash index back to back, in memory
// or, once spill is called, in a file with only the page being filled in
// memory.
type sigStore struct {
	perms int
	n     int
	pages [][]uint32 // in memory: every page; spilled: the one being filled
	file  *os.File   // nil when in memory
	raw   []byte     // page encoding and read scratch
}

// spill moves the store to a new temporary file in dir. It must be called
// while the store is empty.
func (s *sigStore) spill(dir string) error {
	f, err := os.CreateTemp(dir, "minhash-*.sig")
	if err != nil {
		return fmt.Errorf("dedup: spill signatures: %w", err)
	}
	// Unlinked at once: the open file lives on until Close or the end of
	// the process, however that comes. Where unlinking an open file fails
	// (Windows), close removes it instead.
	_ = os.Remove(f.Name())
	s.file = f
	s.raw = make([]byte, 4*s.perms*sigsPerPage)
	return nil
}

func (s *sigStore) add(sig Signature) error {
	slot := s.n % sigsPerPage
	if slot == 0 {
		if s.file != nil && s.n > 0 {
			if err := s.flush(); err != nil {
				return err
			}
		}
		if s.file == nil || len(s.pages) == 0 {
			s.pages = append(s.pages, make([]uint32, s.perms*sigsPerPage))
		}
	}
	copy(s.pages[len(s.pages)-1][slot*s.perms:], sig)
	s.n++
	return nil
}

// flush writes the full page in memory to the file, where it is page
// (s.n-1)/sigsPerPage.
func (s *sigStore) flush() error {
	page := s.pages[0]
	for i, v := range page {
		binary.LittleEndian.PutUint32(s.raw[4*i:], v)
	}
	off := int64((s.n-1)/sigsPerPage) * int64(len(s.raw))
	if _, err := s.file.WriteAt(s.raw, off); err != nil {
		return fmt.Errorf("dedup: spill signatures: %w", err)
	}
	return nil
}

// at returns signature i, read into buf when it is in the file. The result
// is valid until the next call.
func (s *sigStore) at(i int, buf Signature) (Signature, error) {
	page, slot := i/sigsPerPage, i%sigsPerPage
	if s.file == nil {
		return s.pages[page][slot*s.perms : (slot+1)*s.perms], nil
	}
	if page == (s.n-1)/sigsPerPage {
		return s.pages[0][slot*s.perms : (slot+1)*s.perms], nil
	}
	raw := s.raw[:4*s.perms]
	if _, err := s.file.ReadAt(raw, int64(i)*int64(len(raw))); err != nil {
		return nil, fmt.Errorf("dedup: read spilled signature %d: %w", i, err)
	}
	for k := range buf {
		buf[k] = binary.LittleEndian.Uint32(raw[4*k:])
	}
	return buf, nil
}

func (s *sigStore) bytes() int { return len(s.raw) + 4*s.perms*sigsPerPage*len(s.pages) }

func (s *sigStore) close() error {
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	s.file = nil
	// Already gone where the system let spill unlink it.
	if rerr := os.Remove(name); rerr != nil && !os.IsNotExist(rerr) && err == nil {
		err = fmt.Errorf("dedup: remove spill file: %w", rerr)
	}
	if err != nil {
		return fmt.Errorf("dedup: close spill file: %w", err)
	}
	return nil
}
