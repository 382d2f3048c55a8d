// Package confkit decodes YAML config files strictly, suggests the closest valid name, documents config fields and keeps typed registries.
package confkit

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a config file, with its position.
type Error struct {
	File   string
	Line   int
	Column int
	Field  string // dotted path, e.g. stages[0].with.temperature
	Msg    string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Errors is every problem found in one config file.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Sort orders the errors by line, keeping the order of those on one line, so
// a reader goes through the file once.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
}
