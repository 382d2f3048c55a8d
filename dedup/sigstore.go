package dedup

import (
	"encoding/binary"
	"fmt"
	"os"
)

// spillFile is an append-only temporary file with its last megabyte in
// memory: what an index keeps of each text but reads back rarely (the
// signatures of band candidates, the IDs of the texts a rejection names).
// Appended data is never split between the file and the memory tail.
type spillFile struct {
	f    *os.File
	tail []byte // the data from offset base on, not yet written
	base int64
}

const spillTail = 1 << 20

func newSpillFile(dir, pattern string) (*spillFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("dedup: spill: %w", err)
	}
	// Unlinked at once: the open file lives on until close or the end of
	// the process, however that comes, so a killed run leaves nothing
	// behind. Where an open file cannot be unlinked (Windows), close
	// removes it instead.
	_ = os.Remove(f.Name())
	return &spillFile{f: f, tail: make([]byte, 0, spillTail)}, nil
}

// append adds b and returns its offset.
func (s *spillFile) append(b []byte) (int64, error) {
	if len(s.tail)+len(b) > cap(s.tail) {
		if _, err := s.f.WriteAt(s.tail, s.base); err != nil {
			return 0, fmt.Errorf("dedup: spill: %w", err)
		}
		s.base += int64(len(s.tail))
		s.tail = s.tail[:0]
		if len(b) > cap(s.tail) {
			off := s.base
			if _, err := s.f.WriteAt(b, off); err != nil {
				return 0, fmt.Errorf("dedup: spill: %w", err)
			}
			s.base += int64(len(b))
			return off, nil
		}
	}
	off := s.base + int64(len(s.tail))
	s.tail = append(s.tail, b...)
	return off, nil
}

// readAt fills p from offset off, which append returned for len(p) bytes.
func (s *spillFile) readAt(p []byte, off int64) error {
	if off >= s.base {
		copy(p, s.tail[off-s.base:])
		return nil
	}
	if _, err := s.f.ReadAt(p, off); err != nil {
		return fmt.Errorf("dedup: read back spilled data: %w", err)
	}
	return nil
}

func (s *spillFile) close() error {
	if s == nil || s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := s.f.Close()
	s.f = nil
	if rerr := os.Remove(name); rerr != nil && !os.IsNotExist(rerr) && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("dedup: close spill file: %w", err)
	}
	return nil
}

// sigsPerPage is how many signatures a page of sigStore holds in memory:
// 2 MB at the default 128 permutations.
const sigsPerPage = 4096

// sigStore holds the signatures of a MinHash index back to back, in pages
// in memory or, with a spill file, in the file.
type sigStore struct {
	perms int
	n     int
	pages [][]uint32 // in memory
	file  *spillFile // nil when in memory
	raw   []byte     // encoding and read scratch
}

func (s *sigStore) add(sig Signature) error {
	if s.file != nil {
		for i, v := range sig {
			binary.LittleEndian.PutUint32(s.raw[4*i:], v)
		}
		if _, err := s.file.append(s.raw); err != nil {
			return err
		}
		s.n++
		return nil
	}
	slot := s.n % sigsPerPage
	if slot == 0 {
		s.pages = append(s.pages, make([]uint32, s.perms*sigsPerPage))
	}
	copy(s.pages[len(s.pages)-1][slot*s.perms:], sig)
	s.n++
	return nil
}

// at returns signature i, read into buf when it is spilled. The result is
// valid until the next call.
func (s *sigStore) at(i int, buf Signature) (Signature, error) {
	if s.file == nil {
		page, slot := i/sigsPerPage, i%sigsPerPage
		return s.pages[page][slot*s.perms : (slot+1)*s.perms], nil
	}
	if err := s.file.readAt(s.raw, int64(i)*int64(len(s.raw))); err != nil {
		return nil, err
	}
	for k := range buf {
		buf[k] = binary.LittleEndian.Uint32(s.raw[4*k:])
	}
	return buf, nil
}

func (s *sigStore) bytes() int {
	if s.file != nil {
		return spillTail
	}
	return 4 * s.perms * sigsPerPage * len(s.pages)
}
