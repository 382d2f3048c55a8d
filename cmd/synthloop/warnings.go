package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// warningsKey is the run-store meta key under which `run` keeps the
// warnings stages logged, so that `status` shows them later.
const warningsKey = "warnings"

// metaReader is the part of the run store warnings are read from.
type metaReader interface {
	MetaValue(ctx context.Context, key string) (string, bool, error)
}

// warnings collects what stages log at warning level or above: printed on
// w as they happen (a stage warning that a run ended short must not
// vanish) and kept for the run store.
type warnings struct {
	mu   sync.Mutex
	w    io.Writer
	kept []string
}

// handler is a slog handler over a warnings list; loggers derived with
// attributes record into the same list.
func (ws *warnings) handler() slog.Handler { return warnLog{ws: ws} }

type warnLog struct {
	ws    *warnings
	attrs []slog.Attr
}

func (h warnLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h warnLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.ws.mu.Lock()
	defer h.ws.mu.Unlock()
	fmt.Fprintf(h.ws.w, "warning: %s\n", b.String())
	h.ws.kept = append(h.ws.kept, b.String())
	return nil
}

func (h warnLog) WithAttrs(as []slog.Attr) slog.Handler {
	return warnLog{ws: h.ws, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h warnLog) WithGroup(string) slog.Handler { return h }

// save appends the warnings of this run to those the store holds.
func (ws *warnings) save(ctx context.Context, st interface {
	metaReader
	SetMetaValue(ctx context.Context, key, val string) error
}) error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.kept) == 0 {
		return nil
	}
	all, err := readWarnings(ctx, st)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(append(all, ws.kept...))
	return st.SetMetaValue(context.WithoutCancel(ctx), warningsKey, string(b))
}

// readWarnings returns the warnings `run` kept in the store.
func readWarnings(ctx context.Context, st metaReader) ([]string, error) {
	v, ok, err := st.MetaValue(ctx, warningsKey)
	if err != nil || !ok {
		return nil, err
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, fmt.Errorf("warnings in the run store: %w", err)
	}
	return out, nil
}
