package deploy

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// manifests decodes every document of every file in kubernetes/ strictly
// into its Kubernetes API type: an unknown or misspelt field, a duplicate
// key or a value of the wrong type fails, as kubectl apply --validate=strict
// would.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	pvcs        map[string]*corev1.PersistentVolumeClaim
	jobs        map[string]*batchv1.Job
}

func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, pvcs: map[string]*corev1.PersistentVolumeClaim{},
		jobs: map[string]*batchv1.Job{},
	}
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range documents(data) {
			where := fmt.Sprintf("%s, document %d", f, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			decode := func(obj metav1.Object) {
				if err := yaml.UnmarshalStrict(doc, obj); err != nil {
					t.Fatalf("%s: strict decode as %s: %v", where, tm.Kind, err)
				}
				if obj.GetName() == "" {
					t.Errorf("%s: no metadata.name", where)
				}
			}
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				o := &appsv1.Deployment{}
				decode(o)
				m.deployments[o.Name] = o
			case "v1 Service":
				o := &corev1.Service{}
				decode(o)
				m.services[o.Name] = o
			case "v1 ConfigMap":
				o := &corev1.ConfigMap{}
				decode(o)
				m.configMaps[o.Name] = o
			case "v1 PersistentVolumeClaim":
				o := &corev1.PersistentVolumeClaim{}
				decode(o)
				m.pvcs[o.Name] = o
			case "batch/v1 Job":
				o := &batchv1.Job{}
				decode(o)
				m.jobs[o.Name] = o
			default:
				t.Fatalf("%s: unexpected kind %q of %q", where, tm.Kind, tm.APIVersion)
			}
		}
	}
	return m
}

// documents splits a YAML stream at its --- lines, dropping empty ones.
func documents(data []byte) [][]byte {
	var out [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			out = append(out, []byte(d))
		}
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for l := range strings.Lines(s) {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func TestKubernetesManifests(t *testing.T) {
	m := load(t)
	shards := m.jobs["synthloop-shards"]
	merge := m.jobs["synthloop-merge"]
	teacher := m.deployments["vllm-teacher"]
	svc := m.services["vllm-teacher"]
	cm := m.configMaps["synthloop-pipeline"]
	if shards == nil || merge == nil || teacher == nil || svc == nil || cm == nil || len(m.pvcs) != 1 {
		t.Fatalf("want the shards and merge Jobs, the vLLM Deployment and Service, the pipeline ConfigMap and one PVC; have %+v", m)
	}

	// The shards: an Indexed Job whose pods each run one shard of as many
	// as the Job has completions.
	js := shards.Spec
	if js.CompletionMode == nil || *js.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("shards Job: completionMode %v, want Indexed (it sets JOB_COMPLETION_INDEX)", js.CompletionMode)
	}
	if js.Completions == nil || js.Parallelism == nil || *js.Parallelism > *js.Completions || *js.Parallelism < 1 {
		t.Errorf("shards Job: parallelism %v, completions %v: want 1 ≤ parallelism ≤ completions", js.Parallelism, js.Completions)
	}
	if js.BackoffLimitPerIndex == nil || js.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("shards Job: want backoffLimitPerIndex (a failed shard retried on its own) with restartPolicy Never")
	}
	run := only(t, "shards Job", js.Template.Spec.Containers)
	if len(run.Args) < 2 || run.Args[0] != "run" {
		t.Fatalf("shards Job: args %q, want synthloop run PIPELINE --shards N", run.Args)
	}
	if n := flag(run.Args, "--shards"); js.Completions == nil || n != strconv.Itoa(int(*js.Completions)) {
		t.Errorf("shards Job: --shards %q but %v completions: each index must be a shard", n, js.Completions)
	}
	runDir := flag(run.Args, "--run-dir")
	if runDir == "" || flag(run.Args, "--shard") != "" {
		t.Errorf("shards Job: args %q: want --run-dir on the volume and no fixed --shard", run.Args)
	}
	mergeInit := only(t, "merge Job", merge.Spec.Template.Spec.InitContainers)
	export := only(t, "merge Job", merge.Spec.Template.Spec.Containers)
	if run.Image != mergeInit.Image || run.Image != export.Image || !strings.Contains(run.Image, "synthloop") {
		t.Errorf("images: shards %q, merge %q, export %q: want one synthloop image", run.Image, mergeInit.Image, export.Image)
	}
	if len(mergeInit.Args) != 3 || mergeInit.Args[0] != "merge" || mergeInit.Args[2] != runDir {
		t.Errorf("merge Job: args %q, want merge OUT %s", mergeInit.Args, runDir)
	}
	if len(export.Args) < 2 || export.Args[0] != "export" || export.Args[1] != mergeInit.Args[1] {
		t.Errorf("merge Job: export args %q, want export %s ...", export.Args, mergeInit.Args[1])
	}
	if merge.Spec.CompletionMode != nil && *merge.Spec.CompletionMode == batchv1.IndexedCompletion {
		t.Errorf("merge Job: one merge, not Indexed")
	}

	// The run stores: both Jobs mount the one ReadWriteMany claim where
	// the run directories are.
	var pvc *corev1.PersistentVolumeClaim
	for _, p := range m.pvcs {
		pvc = p
	}
	if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
		t.Errorf("PVC %s: access modes %v: shards on several nodes need ReadWriteMany", pvc.Name, pvc.Spec.AccessModes)
	}
	for name, job := range map[string]*batchv1.Job{"shards": shards, "merge": merge} {
		ps := job.Spec.Template.Spec
		for _, c := range slices.Concat(ps.InitContainers, ps.Containers) {
			if !strings.Contains(c.Image, "synthloop") {
				continue
			}
			if !mounted(ps, c, pvc.Name, runDir) {
				t.Errorf("%s Job, container %s: %s is not on a mount of PVC %s", name, c.Name, runDir, pvc.Name)
			}
		}
	}
	cfgPath := run.Args[1]
	if !mountedConfigMap(js.Template.Spec, run, cm.Name, cfgPath) {
		t.Errorf("shards Job: the pipeline %s is not mounted from ConfigMap %s", cfgPath, cm.Name)
	}

	// The teacher pool: the Service selects the Deployment's pods, on the
	// port vLLM listens on, which is ready once /health answers.
	tp := teacher.Spec.Template
	for k, v := range svc.Spec.Selector {
		if tp.Labels[k] != v || teacher.Spec.Selector.MatchLabels[k] != v {
			t.Errorf("Service %s selects %s=%s, which the Deployment's pods do not carry", svc.Name, k, v)
		}
	}
	vllm := only(t, "vLLM Deployment", tp.Spec.Containers)
	if vllm.ReadinessProbe == nil || vllm.ReadinessProbe.HTTPGet == nil || vllm.ReadinessProbe.HTTPGet.Path != "/health" {
		t.Errorf("vLLM: want a readiness probe on /health")
	}
	if _, ok := vllm.Resources.Limits["nvidia.com/gpu"]; !ok {
		t.Errorf("vLLM: no GPU limit")
	}
	svcPort := only(t, "Service", svc.Spec.Ports)
	if svcPort.TargetPort.StrVal != "" && !slices.ContainsFunc(vllm.Ports, func(p corev1.ContainerPort) bool { return p.Name == svcPort.TargetPort.StrVal }) {
		t.Errorf("Service targets port %q, which vLLM does not name", svcPort.TargetPort.StrVal)
	}

	// The shards' teacher is that Service: the URL the init container
	// waits for and the pipeline's base_url agree, and name it.
	wait := only(t, "shards Job init", js.Template.Spec.InitContainers)
	var waitURL string
	for _, e := range wait.Env {
		if e.Name == "TEACHER_BASE_URL" {
			waitURL = e.Value
		}
	}
	u, err := url.Parse(waitURL)
	if err != nil || u.Hostname() != svc.Name || u.Port() != strconv.Itoa(int(svcPort.Port)) {
		t.Errorf("shards Job: TEACHER_BASE_URL %q does not name Service %s port %d", waitURL, svc.Name, svcPort.Port)
	}
	var pcfg struct {
		Models map[string]struct {
			Ref     string `json:"ref"`
			BaseURL string `json:"base_url"`
		} `json:"models"`
		Stages []struct {
			Type string         `json:"type"`
			With map[string]any `json:"with"`
		} `json:"stages"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data[filepath.Base(cfgPath)]), &pcfg); err != nil || len(pcfg.Stages) == 0 {
		t.Fatalf("ConfigMap %s: %s does not hold a pipeline: %v", cm.Name, filepath.Base(cfgPath), err)
	}
	for name, mc := range pcfg.Models {
		if mc.BaseURL != waitURL {
			t.Errorf("pipeline model %s: base_url %q, want the teacher Service %q", name, mc.BaseURL, waitURL)
		}
	}
	if p, _ := pcfg.Stages[0].With["path"].(string); !strings.HasPrefix(p, "/data/") {
		t.Errorf("pipeline: the input %q is not on the runs volume", p)
	}
}

func only[T any](t *testing.T, what string, xs []T) T {
	t.Helper()
	if len(xs) != 1 {
		t.Fatalf("%s: %d entries, want 1", what, len(xs))
	}
	return xs[0]
}

// flag returns the value after name in args.
func flag(args []string, name string) string {
	i := slices.Index(args, name)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

// mounted reports whether path is inside a mount of claim in c.
func mounted(ps corev1.PodSpec, c corev1.Container, claim, path string) bool {
	for _, vm := range c.VolumeMounts {
		for _, v := range ps.Volumes {
			if v.Name == vm.Name && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim &&
				strings.HasPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/") {
				return true
			}
		}
	}
	return false
}

// mountedConfigMap reports whether file is a key of ConfigMap cm mounted
// in c.
func mountedConfigMap(ps corev1.PodSpec, c corev1.Container, cm, file string) bool {
	for _, vm := range c.VolumeMounts {
		for _, v := range ps.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm && filepath.Dir(file) == filepath.Clean(vm.MountPath) {
				return true
			}
		}
	}
	return false
}

// TestStrictDecodeCatchesMistakes makes sure the check above can fail: a
// misspelt field and a wrong type are refused.
func TestStrictDecodeCatchesMistakes(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec: {completionMode: Indexed, paralellism: 2}\n",
		"apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec: {completions: two}\n",
		"apiVersion: batch/v1\nkind: Job\nmetadata: {name: x, name: y}\n",
	} {
		if err := yaml.UnmarshalStrict([]byte(doc), &batchv1.Job{}); err == nil {
			t.Errorf("strict decode accepted %q", doc)
		}
	}
}

// TestSlurmScripts runs shellcheck on the Slurm scripts (scripts/test.sh
// installs it when it is missing) and checks what they must do.
func TestSlurmScripts(t *testing.T) {
	scripts, err := filepath.Glob("slurm/*")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts in slurm/: %v", err)
	}
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed: run the tests through scripts/test.sh, which installs it, or apt-get install shellcheck")
	}
	out, err := exec.Command(sc, append([]string{"--shell=bash", "--severity=style", "--external-sources"}, scripts...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck %v: %v\n%s", scripts, err, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("slurm", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("#!/usr/bin/env bash\n")) {
			t.Errorf("%s: want a bash shebang", name)
		}
		return string(b)
	}
	shards, merge, submit := read("shards.sbatch"), read("merge.sbatch"), read("submit.sh")
	for _, want := range []string{"#SBATCH --array=", "#SBATCH --requeue", "vllm serve", "/health", "until curl", `--shards "$SLURM_ARRAY_TASK_COUNT"`, "synthloop run"} {
		if !strings.Contains(shards, want) {
			t.Errorf("shards.sbatch does not have %q", want)
		}
	}
	if i, j := strings.Index(shards, "until curl"), strings.Index(shards, "\nsrun "); i < 0 || j < 0 || i > j {
		t.Errorf("shards.sbatch runs the shard before it waits for vLLM's /health")
	}
	for _, want := range []string{"synthloop merge", "synthloop export"} {
		if !strings.Contains(merge, want) {
			t.Errorf("merge.sbatch does not have %q", want)
		}
	}
	if !regexp.MustCompile(`sbatch --parsable --dependency="afterok:\$\{array_id\}" "\$here/merge.sbatch"`).MatchString(submit) {
		t.Errorf("submit.sh does not queue merge.sbatch with --dependency=afterok on the array")
	}
}
