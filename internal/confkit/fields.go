package confkit

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Field describes one setting of a config struct for a reader: its YAML key
// (dotted inside nested structs), type, default and one-line doc.
type Field struct {
	Key, Type, Default, Doc string
}

// Fields lists the settings of cfg, a struct or pointer to one holding the
// defaults, in declaration order. Each field's doc is its `doc` struct tag,
// so the defaults are stated once, in the value, and the docs next to the
// fields they describe. A nested struct is listed, then each of its fields.
// A config that implements DocOverrider rewords the docs it names.
func Fields(cfg any) []Field {
	rv := reflect.ValueOf(cfg)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil
	}
	out := fields(rv, "")
	if o, ok := cfg.(DocOverrider); ok {
		docs := o.FieldDocs()
		for i, f := range out {
			if d, ok := docs[f.Key]; ok {
				out[i].Doc = d
			}
		}
	}
	return out
}

// DocOverrider is a config holding a shared settings type (a verifier's,
// say) whose docs are wrong in its place: FieldDocs gives the docs to show
// instead, by dotted key.
type DocOverrider interface {
	FieldDocs() map[string]string
}

func fields(rv reflect.Value, prefix string) []Field {
	var out []Field
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		if !sf.IsExported() || sf.Tag.Get("yaml") == "-" {
			continue
		}
		fv := rv.Field(i)
		if Inline(sf) {
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					fv = reflect.New(fv.Type().Elem())
				}
				fv = fv.Elem()
			}
			out = append(out, fields(fv, prefix)...)
			continue
		}
		key := Join(prefix, Key(sf))
		if fv.Kind() == reflect.Struct && !decodesItself(fv.Type()) {
			// A row for the mapping itself, then one per setting inside it.
			out = append(out, Field{Key: key, Type: "mapping", Doc: sf.Tag.Get("doc")})
			out = append(out, fields(fv, key)...)
			continue
		}
		out = append(out, Field{Key: key, Type: TypeName(sf.Type), Default: Format(fv), Doc: sf.Tag.Get("doc")})
		// The settings of an optional mapping (a pointer) and of each entry
		// of a list of mappings, with their zero values: key.sub and key[].sub.
		// Only for types that document every setting: a row without a
		// description says nothing a reader could use.
		switch t := sf.Type; {
		case t.Kind() == reflect.Pointer && documented(t.Elem()) && len(prefix) < 200:
			out = append(out, fields(reflect.New(t.Elem()).Elem(), key)...)
		case t.Kind() == reflect.Slice && documented(t.Elem()) && len(prefix) < 200:
			out = append(out, fields(reflect.New(t.Elem()).Elem(), key+"[]")...)
		}
	}
	return out
}

// documented reports whether t is a struct that parses as a mapping and
// has a doc tag on every exported setting.
func documented(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || decodesItself(t) {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.IsExported() && sf.Tag.Get("yaml") != "-" && !Inline(sf) && sf.Tag.Get("doc") == "" {
			return false
		}
	}
	return true
}

// TypeName names a Go type the way a YAML writer thinks of it.
func TypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(time.Duration(0)) || strings.HasSuffix(t.String(), ".Duration"):
		return "duration"
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		return "string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "list of " + TypeName(t.Elem())
	case reflect.Map:
		return "map of " + TypeName(t.Elem())
	case reflect.Struct:
		return "mapping"
	}
	return "any"
}

// Format renders a default value in YAML flow style, "" for an unset one,
// cut to a table cell's width.
func Format(v reflect.Value) string {
	s := format(v)
	if r := []rune(s); len(r) > 40 {
		s = string(r[:39]) + "…"
	}
	return s
}

func format(v reflect.Value) string {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.IsZero() && v.Kind() != reflect.Bool && !v.CanInt() && !v.CanUint() && !v.CanFloat() {
		return "" // unset: the doc says what it means
	}
	if v.Type().ConvertibleTo(reflect.TypeOf(time.Duration(0))) && strings.HasSuffix(v.Type().String(), "Duration") {
		return time.Duration(v.Int()).String()
	}
	if tm, ok := v.Interface().(encoding.TextMarshaler); ok {
		if b, err := tm.MarshalText(); err == nil {
			return string(b)
		}
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = format(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		var parts []string
		for _, k := range v.MapKeys() {
			parts = append(parts, fmt.Sprintf("%v: %s", k, format(v.MapIndex(k))))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Struct:
		var parts []string
		for _, f := range Fields(v.Interface()) {
			if f.Default != "" && f.Default != "0" && f.Default != "false" {
				parts = append(parts, f.Key+": "+f.Default)
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.String:
		return v.String()
	}
	return fmt.Sprint(v.Interface())
}
