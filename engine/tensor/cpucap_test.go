package tensor

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"
)

func TestParseCPUCap(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{{"", 2}, {"avx512", 2}, {"avx2", 1}, {"generic", 0}} {
		if got := parseCPUCap(c.in); got != c.want {
			t.Errorf("parseCPUCap(%q) = %d, want %d", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"AVX2", "sse", "avx-512"} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), CPUEnv) {
					t.Errorf("parseCPUCap(%q): recovered %v, want a panic naming %s", bad, r, CPUEnv)
				}
			}()
			parseCPUCap(bad)
		}()
	}
}

// TestCPUCapChild prints the kernels in use when run by TestCPUCap.
func TestCPUCapChild(t *testing.T) {
	if os.Getenv("TENSOR_CPUCAP_CHILD") == "" {
		return
	}
	os.Stdout.WriteString("kernels=" + CPU() + "\n")
}

// TestCPUCap starts the test binary again with each cap and checks which
// kernels it picks: the cap is read at start-up, so only a new process shows it.
func TestCPUCap(t *testing.T) {
	want := map[string]string{"generic": "generic"}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		want["avx2"] = "avx2"
	} else {
		want["avx2"] = "generic"
	}
	for cap, kern := range want {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestCPUCapChild$")
		cmd.Env = append(os.Environ(), "TENSOR_CPUCAP_CHILD=1", CPUEnv+"="+cap)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s=%s: %v\n%s", CPUEnv, cap, err, out)
		}
		if !strings.Contains(string(out), "kernels="+kern+"\n") {
			t.Errorf("%s=%s: want kernels=%s, got\n%s", CPUEnv, cap, kern, out)
		}
	}
}
