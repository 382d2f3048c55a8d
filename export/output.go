package export

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// stdout is where "--out -" and /dev/stdout go; a variable so tests can
// capture it.
var stdout io.Writer = os.Stdout

// target is where Write puts its output once the path is looked at.
type target struct {
	// path is the file to replace atomically, with symlinks followed, so
	// that the rename replaces the link's target and keeps the link.
	path string
	// stream, when set, is written in place instead: stdout, a FIFO or a
	// character device, which a rename would replace with a regular file.
	stream io.Writer
	// open, when set, opens the stream (a FIFO or a device) when the export
	// is ready to write; opening a FIFO blocks until it has a reader.
	open func() (io.WriteCloser, error)
}

// maxLinks bounds the symlink chain we follow, as the kernel does (ELOOP).
const maxLinks = 40

// resolveOut decides how to write to path:
//   - "-", /dev/stdout and /dev/fd/1 are stdout, written as a stream; reopening
//     them by name would start at offset 0 of a file stdout appends to.
//   - A symlink is followed (even a dangling one) and its target replaced
//     atomically; the link stays.
//   - A FIFO or a character device (/dev/null, a terminal) is written as a
//     stream: replacing it with a regular file is never what was meant.
//   - Block devices, sockets and other special files are refused: writing a
//     dataset onto a disk or a socket is a mistake worth an error.
//   - Anything else (a regular file, or nothing yet) is replaced atomically.
func resolveOut(path string) (target, error) {
	switch filepath.Clean(path) {
	case "-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1":
		return target{stream: stdout}, nil
	}
	p := path
	for range maxLinks {
		fi, err := os.Lstat(p)
		if err != nil {
			if os.IsNotExist(err) {
				return target{path: p}, nil
			}
			return target{}, fmt.Errorf("export: %w", err)
		}
		mode := fi.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return target{}, fmt.Errorf("export: %w", err)
			}
			if !filepath.IsAbs(link) {
				link = filepath.Join(filepath.Dir(p), link)
			}
			// /dev/stdout of a process whose stdout is a pipe links to
			// "pipe:[N]", not a path; /proc/self/fd/N opens it, so stream.
			if strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/dev/fd/") {
				return streamTarget(path), nil
			}
			p = link
		case mode.IsRegular(), mode.IsDir():
			// A directory is left for the format to judge: hf writes into one,
			// the single-file formats fail on the rename with the path named.
			return target{path: p}, nil
		case mode&fs.ModeNamedPipe != 0, mode&fs.ModeCharDevice != 0:
			return streamTarget(path), nil
		default:
			return target{}, fmt.Errorf("export: %s is a %s; write the export to a regular file, a FIFO, a character device such as /dev/null, or - for stdout",
				path, kindOf(mode))
		}
	}
	return target{}, fmt.Errorf("export: %s: more than %d levels of symbolic links", path, maxLinks)
}

func streamTarget(path string) target {
	return target{open: func() (io.WriteCloser, error) {
		// No O_CREATE or O_TRUNC: the file exists and is not a regular file.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		return f, nil
	}}
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSocket != 0:
		return "socket"
	default:
		return "special file (" + m.Type().String() + ")"
	}
}

// removeStale deletes what an export killed before its rename (SIGKILL, power
// cut) left beside path: entries named like our own temporary names,
// ".BASE.tmp-" and the digits os.CreateTemp and os.MkdirTemp put for "*".
// Nothing else is touched. An export running at the same moment to the same
// path would lose its temporary file and fail on its rename with an error;
// two concurrent exports to one path race anyway.
func removeStale(path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("export: clean up %s: %w", dir, err)
	}
	prefix := "." + base + ".tmp-"
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !allDigits(rest) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("export: remove stale temporary %s: %w", e.Name(), err)
		}
	}
	return nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
