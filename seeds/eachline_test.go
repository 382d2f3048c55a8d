package seeds

import (
	"strings"
	"testing"
)

func TestEachLineRejects(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"invalid UTF-8", "ok\nfine\nbad \xff byte\n", 1 << 20, "line 3: not valid UTF-8 (byte 5)"},
		{"too long", "short\n" + strings.Repeat("x", 200) + "\n", 100, "line 2: longer than 100 bytes"},
	} {
		err := EachLine(strings.NewReader(tc.in), tc.max, func(int, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	var got []string
	if err := EachLine(strings.NewReader("\xef\xbb\xbfé\n\n  ü  \n"), 100, func(_ int, b []byte) error { got = append(got, string(b)); return nil }); err != nil || strings.Join(got, ",") != "é,ü" {
		t.Errorf("valid lines: %q, %v", got, err)
	}
}
