// Package genkit holds what the generating stages share: seed files, input records, named models and their calls, requests whose JSON reply must parse, the language setting, a unit's own randomness and its failure.
package genkit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/text"
)

// Inputs returns the records a stage works on: its seeds, cut to limit, or
// when it has none the kept records of the input stage. noInput is the
// error for a stage with neither.
func Inputs(ctx context.Context, env *pipeline.Env, seeds []*record.Record, limit int, noInput string) ([]*record.Record, error) {
	if limit > 0 && len(seeds) > limit {
		seeds = seeds[:limit]
	}
	if seeds != nil {
		return seeds, nil
	}
	if env.Input == "" {
		return nil, errors.New(noInput)
	}
	return pipeline.KeptInput(ctx, env, limit)
}

// Each checks that a stage has something to work on, its seeds or an input
// stage (noInput is the error when it has neither), and returns what runs
// fn over it, one unit per record: the seeds cut to limit, the first limit
// kept records of the input stage, or with no limit every kept record of
// it as ForEachKept brings them (as they are committed, when the stage
// streams). A stage streams exactly when it has no seeds and no limit.
func Each(env *pipeline.Env, seeds []*record.Record, limit int, noInput string) (func(context.Context, pipeline.MapFunc) error, error) {
	if seeds == nil && env.Input == "" {
		return nil, errors.New(noInput)
	}
	return func(ctx context.Context, fn pipeline.MapFunc) error {
		if seeds == nil && limit == 0 {
			return pipeline.ForEachKept(ctx, env, fn)
		}
		ins, err := Inputs(ctx, env, seeds, limit, noInput)
		if err != nil {
			return err
		}
		return pipeline.ForEachRecord(ctx, env, ins, fn)
	}, nil
}

// Backend is a model with the names that identify it in provenance.
type Backend struct {
	Gen  model.Backend
	Info pipeline.ModelInfo
	Name string
}

// Open returns the backend named name from the run's models section.
func Open(env *pipeline.Env, stage, name string) (Backend, error) {
	b, info, err := env.Backend(name)
	if err != nil {
		return Backend{}, fmt.Errorf("%s: model %q: %w", stage, name, err)
	}
	return Backend{b, info, name}, nil
}

// UnitRand is the randomness of one unit of a stage of type kind: derived
// from the stage's own seed (0: the run's), its name and the unit's key
// only, so a resumed unit draws the same numbers.
func UnitRand(kind string, own int64, env *pipeline.Env, key string) *rand.Rand {
	seed := own
	if seed == 0 {
		seed = env.Seed
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s\x00%s", kind, seed, env.Name, key))
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:16])))
}

// TaskText is the task a record stands for: its instruction, then its input
// after a blank line, the way Alpaca-style data is prompted.
func TaskText(r *record.Record) string {
	p := strings.TrimSpace(r.Instruction)
	if in := strings.TrimSpace(r.Input); in != "" && in != "<noinput>" {
		p += "\n\n" + in
	}
	return p
}

// Language resolves a stage's language setting: en or ja, and when unset
// the language of the built-in seed set it reads, English otherwise.
func Language(stage, language, seedSet string) (text.Lang, error) {
	switch strings.ToLower(language) {
	case "":
		if seedSet == "ja" {
			return text.Japanese, nil
		}
		return text.English, nil
	case "en":
		return text.English, nil
	case "ja":
		return text.Japanese, nil
	}
	return "", fmt.Errorf("%s: language: unknown %q (want en or ja)", stage, language)
}

// Clip shortens s to at most n runes for a decision's reason or a log line,
// its last rune an ellipsis when it was cut.
func Clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// Failed ends a unit whose one record is r with err: recorded on r, after
// prefix, and counted in usage. An error that must not be recorded
// (pipeline.MustReturn) is returned instead, so that the unit is retried.
func Failed(ctx context.Context, r *record.Record, usage pipeline.UnitUsage, prefix string, err error) ([]*record.Record, pipeline.UnitUsage, error) {
	if pipeline.MustReturn(ctx, err) {
		return nil, usage, err
	}
	usage.Errors++
	r.Status, r.Error = record.Failed, prefix+err.Error()
	return []*record.Record{r}, usage, nil
}
