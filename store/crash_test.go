package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// crashEnv, when set to a run directory, turns the test binary into the
// child that the crash test kills.
const crashEnv = "SYNTHLOOP_STORE_CRASH_DIR"

const crashStage = "crash"

// crashUnit is the unit number i the child commits; the parent rebuilds it to
// check what survived. Sizes vary from empty units to records that spill into
// SQLite overflow pages, so kills land in every kind of write.
func crashUnit(i int) pipeline.Unit {
	key := fmt.Sprintf("u%06d", i)
	n := i % 8
	u := pipeline.Unit{Stage: crashStage, Key: key,
		Usage: pipeline.UnitUsage{Requests: n + 1, CachedRequests: i % 2, PromptTokens: i, CompletionTokens: 2 * i, CostUSD: float64(i) / 1000, Errors: i % 3}}
	statuses := []record.Status{record.Kept, record.Rejected, record.Failed}
	for j := range n {
		id := fmt.Sprintf("%s-r%d", key, j)
		reps := 1 + (i*j)%40
		if i%13 == 0 {
			reps = 2000 // ~20 KB
		}
		r := &record.Record{ID: id, Stage: crashStage, Seq: int64(i*10 + j), Status: statuses[(i+j)%3],
			Instruction: "instruction " + id, Output: strings.Repeat(id+" ", reps),
			Prov: record.Provenance{Generator: "crash", Stage: crashStage, Model: "m", CreatedAt: t0}}
		if r.Status == record.Rejected {
			r.Decisions = []record.Decision{{Filter: "f", Reason: "r" + id}}
		}
		u.Records = append(u.Records, r)
	}
	return u
}

// crashBlock is how many units the child takes at a time: an odd block's
// units commit in one CommitUnits, so after a kill all of them are in the
// store or none.
const crashBlock = 4

func crashPayload(key string) []byte { return []byte("response for " + key) }

// crashChild commits units from several goroutines until it is killed,
// resuming past what earlier children committed, as `synthloop run` does.
func crashChild(dir string) {
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	done, err := s.DoneUnits(ctx, crashStage)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	// A parent that died must not leave an orphan writing forever.
	time.AfterFunc(30*time.Second, func() { os.Exit(3) })
	var next atomic.Int64
	var ready sync.Once
	var wg sync.WaitGroup
	// Answers of a unit that never commits (a long unit still running):
	// each is reported once another connection sees it committed, which
	// needs the writer to commit it with no unit after it, and the parent
	// checks that every reported one survived the kill.
	ro, err := OpenReadOnly(ctx, dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			key := fmt.Sprintf("paid-%d-%06d", os.Getpid(), i)
			if err := s.Put(ctx, key, []byte(key)); err != nil {
				fmt.Println("error:", err)
				os.Exit(2)
			}
			for {
				if _, ok, err := ro.Get(ctx, key); err != nil {
					fmt.Println("error:", err)
					os.Exit(2)
				} else if ok {
					break
				}
				time.Sleep(cacheLinger)
			}
			fmt.Println(key)
		}
	})
	for range 4 {
		wg.Go(func() {
			for {
				// The units of an even block commit one by one, those of
				// an odd block together (CommitUnits), as a group.
				b := int(next.Add(1) - 1)
				var group []pipeline.Unit
				wrote := false
				for i := b * crashBlock; i < (b+1)*crashBlock; i++ {
					u := crashUnit(i)
					if done[u.Key] {
						continue
					}
					// Like the model layer: the response is cached before its unit commits.
					if err := s.Put(ctx, "req-"+u.Key, crashPayload(u.Key)); err != nil {
						fmt.Println("error:", err)
						os.Exit(2)
					}
					if b%2 == 1 {
						group = append(group, u)
						continue
					}
					if err := s.Commit(ctx, u); err != nil {
						fmt.Println("error:", err)
						os.Exit(2)
					}
					wrote = true
				}
				if len(group) > 0 {
					if err := s.CommitUnits(ctx, group); err != nil {
						fmt.Println("error:", err)
						os.Exit(2)
					}
					wrote = true
				}
				if wrote {
					ready.Do(func() { fmt.Println("ready") })
				}
			}
		})
	}
	wg.Wait()
}

func TestCrashKill9(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	seed := time.Now().UnixNano()
	t.Logf("kill-delay seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	prevUnits, paidTotal := 0, 0
	const kills = 8
	for round := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKill9$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1)
		var paid []string // entries the child reported as stored
		scanned := make(chan struct{})
		go func() {
			defer close(scanned)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if l := sc.Text(); strings.HasPrefix(l, "paid-") {
					paid = append(paid, l)
					continue
				}
				select {
				case lines <- sc.Text():
				default:
				}
			}
		}()
		select {
		case l := <-lines:
			if l != "ready" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: child said %q", round, l)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child never committed", round)
		}
		time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
			t.Fatal(err)
		}
		cmd.Wait()
		<-scanned

		n := verifyCrashRun(t, dir)
		verifyPaid(t, dir, paid)
		paidTotal += len(paid)
		t.Logf("round %d: %d units intact", round, n)
		if n <= prevUnits {
			t.Errorf("round %d: %d units after kill, had %d before: no progress or loss", round, n, prevUnits)
		}
		prevUnits = n
	}
	if paidTotal == 0 {
		t.Error("no child reported an entry stored on its own: the kills test nothing of that")
	}
}

// verifyPaid checks that the cache entries a killed child reported as
// stored, with no unit committed after them, survived.
func verifyPaid(t *testing.T, dir string, paid []string) {
	t.Helper()
	ctx := context.Background()
	ro, err := OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, k := range paid {
		if v, ok, err := ro.Get(ctx, k); err != nil || !ok || string(v) != k {
			t.Errorf("paid entry %s after kill = %q, %v, %v", k, v, ok, err)
		}
	}
}

// verifyCrashRun reopens the run as a resume would and checks that every unit
// is whole or absent, with nothing duplicated or damaged. It returns the number
// of committed units.
func verifyCrashRun(t *testing.T, dir string) int {
	t.Helper()
	ctx := context.Background()
	// `synthloop status` on the crashed run comes first: a reader must recover
	// the log of a dead writer as well as a writer does.
	ro, err := OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatalf("read-only open after kill: %v", err)
	}
	roCount, err := ro.Count(ctx, crashStage, "")
	if err != nil {
		t.Fatalf("read-only count after kill: %v", err)
	}
	ro.Close()

	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	if n, _ := s.Count(ctx, crashStage, ""); n != roCount {
		t.Errorf("read-only open saw %d records, the writer %d", roCount, n)
	}

	var check string
	if err := s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	done, err := s.DoneUnits(ctx, crashStage)
	if err != nil {
		t.Fatal(err)
	}
	// Records of units that have no done-mark would be half-committed units.
	rows, err := s.r.QueryContext(ctx, `SELECT unit, count(*) FROM records GROUP BY unit`)
	if err != nil {
		t.Fatal(err)
	}
	perUnit := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		perUnit[k] = n
		if !done[k] {
			t.Errorf("unit %s has %d records but no done-mark", k, n)
		}
	}
	rows.Close()

	want := map[string]*record.Record{}
	var wantStats StageStats
	inBlock := map[int]int{} // committed units per odd block
	for k := range done {
		var i int
		if _, err := fmt.Sscanf(k, "u%06d", &i); err != nil {
			t.Fatalf("unexpected unit key %q", k)
		}
		if b := i / crashBlock; b%2 == 1 {
			inBlock[b]++
		}
		u := crashUnit(i)
		if perUnit[k] != len(u.Records) {
			t.Errorf("unit %s has %d records, want %d", k, perUnit[k], len(u.Records))
		}
		for _, r := range u.Records {
			want[r.ID] = r
		}
		wantStats.Requests += u.Usage.Requests
		wantStats.PromptTokens += u.Usage.PromptTokens
		if v, ok, err := s.Get(ctx, "req-"+k); err != nil || !ok || string(v) != string(crashPayload(k)) {
			t.Errorf("cache entry of committed unit %s = %q, %v, %v", k, v, ok, err)
		}
	}
	for b, n := range inBlock {
		if n != crashBlock {
			t.Errorf("%d of the %d units committed together in block %d are in the store", n, crashBlock, b)
		}
	}
	seen := map[string]bool{}
	lastSeq := int64(-1)
	for r, err := range s.Records(ctx, crashStage, "") {
		if err != nil {
			t.Fatalf("reading records after kill: %v", err)
		}
		if seen[r.ID] {
			t.Errorf("record %s yielded twice", r.ID)
		}
		seen[r.ID] = true
		if r.Seq < lastSeq {
			t.Errorf("record %s out of seq order", r.ID)
		}
		lastSeq = r.Seq
		if w := want[r.ID]; w == nil {
			t.Errorf("record %s present without its unit", r.ID)
		} else if !reflect.DeepEqual(r, w) {
			t.Errorf("record %s damaged", r.ID)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d records present, want %d", len(seen), len(want))
	}
	if len(done) > 0 {
		stats, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st := stats[0]; st.Units != len(done) || st.Requests != wantStats.Requests || st.PromptTokens != wantStats.PromptTokens {
			t.Errorf("stats after kill: units %d requests %d prompt %d; want %d %d %d",
				st.Units, st.Requests, st.PromptTokens, len(done), wantStats.Requests, wantStats.PromptTokens)
		}
	}
	return len(done)
}
