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

// metaKV is the part of the run store warnings are kept in.
type metaKV interface {
	MetaValue(ctx context.Context, key string) (string, bool, error)
	SetMetaValue(ctx context.Context, key, val string) error
}

// warnLog is a slog handler that prints warnings and errors on w as they
// happen (a stage warning that a run ended short must not vanish) and keeps
// them for the run store.
type warnLog struct {
	mu     sync.Mutex
	w      io.Writer
	before func() // clears a live progress line first
	kept   []string
	attrs  []slog.Attr
}

func (h *warnLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.before != nil {
		h.before()
	}
	fmt.Fprintf(h.w, "warning: %s\n", b.String())
	h.kept = append(h.kept, b.String())
	return nil
}

func (h *warnLog) WithAttrs(as []slog.Attr) slog.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Shares the kept list: every logger derived from this one records here.
	return &warnLogView{h, append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *warnLog) WithGroup(string) slog.Handler { return h }

// warnLogView is a warnLog with attributes of its own, recording into the
// same list.
type warnLogView struct {
	root  *warnLog
	attrs []slog.Attr
}

func (v *warnLogView) Enabled(ctx context.Context, l slog.Level) bool { return v.root.Enabled(ctx, l) }

func (v *warnLogView) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(v.attrs...)
	return v.root.Handle(ctx, r)
}

func (v *warnLogView) WithAttrs(as []slog.Attr) slog.Handler {
	return &warnLogView{v.root, append(append([]slog.Attr(nil), v.attrs...), as...)}
}

func (v *warnLogView) WithGroup(string) slog.Handler { return v }

// save appends the warnings of this run to those the store holds.
func (h *warnLog) save(ctx context.Context, st metaKV) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.kept) == 0 {
		return nil
	}
	all, err := readWarnings(ctx, st)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(append(all, h.kept...))
	return st.SetMetaValue(context.WithoutCancel(ctx), warningsKey, string(b))
}

// readWarnings returns the warnings `run` kept in the store.
func readWarnings(ctx context.Context, st interface {
	MetaValue(ctx context.Context, key string) (string, bool, error)
}) ([]string, error) {
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
