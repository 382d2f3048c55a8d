package export

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// HFDataFile is the one shard of an hf export, named as the Hub expects so
// that the card's data_files glob and the Hub's auto-detection both find it.
const HFDataFile = "data/train-00000-of-00001.parquet"

//go:embed card.md.tmpl
var cardText string

var cardTmpl = template.Must(template.New("card").Parse(cardText))

// summary accumulates the provenance of the written records for the card.
type summary struct {
	models, generators, stages, templates, rounds map[string]int
	from, to                                      time.Time
	scripts                                       map[string]int // records by detected language
}

func newSummary() *summary {
	return &summary{models: map[string]int{}, generators: map[string]int{}, stages: map[string]int{},
		templates: map[string]int{}, rounds: map[string]int{}, scripts: map[string]int{}}
}

func (s *summary) add(r *record.Record) {
	p := r.Prov
	model := p.Model
	if p.Backend != "" && model != "" {
		model = p.Backend + "/" + model
	}
	inc(s.models, model)
	inc(s.generators, p.Generator)
	inc(s.stages, r.Stage)
	inc(s.templates, p.TemplateHash)
	s.rounds[strconv.Itoa(p.Round)]++
	if t := p.CreatedAt; !t.IsZero() {
		if s.from.IsZero() || t.Before(s.from) {
			s.from = t
		}
		if t.After(s.to) {
			s.to = t
		}
	}
	s.scripts[language(r)]++
}

func inc(m map[string]int, k string) {
	if k != "" {
		m[k]++
	}
}

// language guesses a record's language from its script: the card's language
// tag is metadata for search on the Hub, and the script is a reliable enough
// signal for the languages synthloop targets. Kana means Japanese even among
// kanji; Han without kana means Chinese.
func language(r *record.Record) string {
	var han, kana, hangul, latin int
	count := func(s string) {
		for _, c := range s {
			if c < 0x80 {
				// ASCII is most of the text: skip the table lookups.
				if c|0x20 >= 'a' && c|0x20 <= 'z' {
					latin++
				}
				continue
			}
			switch {
			case unicode.In(c, unicode.Hiragana, unicode.Katakana):
				kana++
			case unicode.Is(unicode.Han, c):
				han++
			case unicode.Is(unicode.Hangul, c):
				hangul++
			case unicode.Is(unicode.Latin, c):
				latin++
			}
		}
	}
	for _, t := range turns(r) {
		count(t.Content)
	}
	switch {
	case kana > 0 && kana+han >= latin/4:
		return "ja"
	case hangul > 0 && hangul >= latin/4:
		return "ko"
	case han > 0 && han >= latin/4:
		return "zh"
	}
	return "en"
}

// languages lists the languages of at least 5% of the records, most frequent first.
func (s *summary) languages(total int) []string {
	var out []string
	for _, c := range sorted(s.scripts) {
		if total > 0 && c.N*20 >= total {
			out = append(out, c.Name)
		}
	}
	if len(out) == 0 {
		out = []string{"en"}
	}
	return out
}

type nameCount struct {
	Name string
	N    int
}

// sorted orders counts by frequency, then name, so the card is deterministic.
func sorted(m map[string]int) []nameCount {
	out := make([]nameCount, 0, len(m))
	for k, v := range m {
		out = append(out, nameCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// sizeCategory is the Hub's size_categories bucket for n examples.
func sizeCategory(n int) string {
	bounds := []struct {
		max   int
		label string
	}{
		{1_000, "n<1K"}, {10_000, "1K<n<10K"}, {100_000, "10K<n<100K"}, {1_000_000, "100K<n<1M"},
		{10_000_000, "1M<n<10M"}, {100_000_000, "10M<n<100M"}, {1_000_000_000, "100M<n<1B"},
	}
	for _, b := range bounds {
		if n < b.max {
			return b.label
		}
	}
	return "1B<n<10B"
}

// secretLine matches a config line whose key looks like it holds a secret.
// Keys are never meant to be in a config (they come from the environment),
// but a card is published, so a key pasted there by mistake must not be.
// A key ending in _env names an environment variable and is kept.
var secretLine = regexp.MustCompile(`(?im)^(\s*-?\s*["']?[\w.-]*(?:api[_-]?key|apikey|secret|password|passwd|authorization|bearer|access[_-]?token|auth[_-]?token)[\w.-]*["']?\s*:\s*)(\S.*)$`)

// secretValue matches provider key shapes anywhere in the text.
var secretValue = regexp.MustCompile(`\b(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{16,})`)

func redact(config string) string {
	config = secretLine.ReplaceAllStringFunc(config, func(line string) string {
		m := secretLine.FindStringSubmatch(line)
		key := strings.TrimRight(strings.TrimSpace(m[1]), ": \t")
		if strings.HasSuffix(strings.Trim(key, `"'`), "_env") {
			return line
		}
		return m[1] + `"<redacted>"`
	})
	return secretValue.ReplaceAllString(config, "<redacted>")
}

// fence returns a code fence longer than any backtick run in text.
func fence(text string) string {
	longest, run := 0, 0
	for _, c := range text {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

type cardData struct {
	Title        string
	Languages    []string
	SizeCategory string
	Audit        bool
	Counts       Counts
	Stats        []store.StageStats
	Meta         *store.Meta
	Created      string
	Config       string
	Fence        string
	Models       []nameCount
	Generators   []nameCount
	Stages       []nameCount
	Templates    []nameCount
	Rounds       []nameCount
	From, To     string
}

// card renders the README.md dataset card for an export of c.
func card(ctx context.Context, src Source, opts Options, title string, c Counts, sum *summary) ([]byte, error) {
	d := cardData{
		Title: title, Languages: sum.languages(c.Written), SizeCategory: sizeCategory(c.Written),
		Audit: opts.IncludeRejected, Counts: c,
		Models: sorted(sum.models), Generators: sorted(sum.generators), Stages: sorted(sum.stages),
		Templates: sorted(sum.templates), Rounds: sorted(sum.rounds),
	}
	if !sum.from.IsZero() {
		d.From, d.To = sum.from.UTC().Format(time.RFC3339), sum.to.UTC().Format(time.RFC3339)
	}
	if info, ok := src.(RunInfo); ok {
		m, err := info.Meta(ctx)
		switch {
		case err == nil:
			d.Meta = &m
			d.Config = strings.TrimRight(redact(m.Config), "\n")
			d.Fence = fence(d.Config)
			d.Created = "unknown"
			if !m.Created.IsZero() {
				d.Created = m.Created.UTC().Format(time.RFC3339)
			}
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("export: dataset card: %w", err)
		}
		if d.Stats, err = info.Stats(ctx); err != nil {
			return nil, fmt.Errorf("export: dataset card: %w", err)
		}
	}
	var b bytes.Buffer
	if err := cardTmpl.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("export: dataset card: %w", err)
	}
	return b.Bytes(), nil
}

// writeHF writes a dataset folder. Both files are first written into a
// temporary sibling folder; a new folder is then renamed into place whole,
// and into an existing folder each file is renamed over its old version, so
// a crash leaves either the old file or the new one, never a half one.
func writeHF(ctx context.Context, src Source, opts Options, stage, outPath string) (Counts, error) {
	outPath = filepath.Clean(outPath)
	fi, err := os.Stat(outPath)
	exists := err == nil
	if exists && !fi.IsDir() {
		return Counts{}, fmt.Errorf("export: %s exists and is not a directory; the hf format writes a dataset folder", outPath)
	}
	parent := filepath.Dir(outPath)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Counts{}, fmt.Errorf("export: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(outPath)+".tmp-*")
	if err != nil {
		return Counts{}, fmt.Errorf("export: %w", err)
	}
	defer os.RemoveAll(tmp) // gone already when renamed into place
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Counts{}, fmt.Errorf("export: %w", err)
	}

	sum := newSummary()
	var c Counts
	err = atomicFile(filepath.Join(tmp, HFDataFile), func(w io.Writer) error {
		var err error
		c, err = encodeParquet(ctx, src, opts, stage, w, sum.add)
		return err
	})
	if err != nil {
		return c, err
	}
	title := filepath.Base(outPath)
	readme, err := card(ctx, src, opts, title, c, sum)
	if err != nil {
		return c, err
	}
	if err := atomicFile(filepath.Join(tmp, "README.md"), func(w io.Writer) error {
		_, err := w.Write(readme)
		return err
	}); err != nil {
		return c, err
	}

	if !exists {
		if err := os.Rename(tmp, outPath); err != nil {
			return c, fmt.Errorf("export: %w", err)
		}
		return c, nil
	}
	if err := os.MkdirAll(filepath.Join(outPath, "data"), 0o755); err != nil {
		return c, fmt.Errorf("export: %w", err)
	}
	// Data first: a crash between the two renames leaves new data under the
	// old card, which the next export fixes, never a card naming missing data.
	for _, f := range []string{HFDataFile, "README.md"} {
		if err := os.Rename(filepath.Join(tmp, f), filepath.Join(outPath, f)); err != nil {
			return c, fmt.Errorf("export: %w", err)
		}
	}
	return c, nil
}
