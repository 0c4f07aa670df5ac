// Package deploy holds sim's Kubernetes manifests (README.md); this test checks them against
// the Kubernetes API types and against the rest of the repository.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
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

	"github.com/simdev/sim/simulator/static"
)

// root is the module root, from this package's folder.
const root = ".."

// kinds are the objects the manifests may hold, by apiVersion and kind, each decoded into its
// Kubernetes API type: a kind not listed here is refused, as the API server would refuse one
// it does not serve.
var kinds = map[string]func() any{
	"v1/ConfigMap":             func() any { return new(corev1.ConfigMap) },
	"v1/Service":               func() any { return new(corev1.Service) },
	"v1/Secret":                func() any { return new(corev1.Secret) },
	"v1/Pod":                   func() any { return new(corev1.Pod) },
	"v1/PersistentVolumeClaim": func() any { return new(corev1.PersistentVolumeClaim) },
	"apps/v1/Deployment":       func() any { return new(appsv1.Deployment) },
	"batch/v1/Job":             func() any { return new(batchv1.Job) },
}

// object is one decoded document.
type object struct {
	file string // relative to deploy/
	doc  int    // its index in the file, from 0
	kind string
	obj  any
}

func (o object) String() string { return fmt.Sprintf("%s, document %d (%s)", o.file, o.doc, o.kind) }

// docSeparator splits a multi-document YAML file: a line that is only "---".
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeStrict decodes one YAML document into the API type of its kind: YAML to JSON (duplicate
// keys refused), then encoding/json with unknown fields refused, so that a misspelt or
// misplaced field fails here instead of being dropped by the API server's lenient decoding. It
// returns "" and nil for a document that holds only comments.
func decodeStrict(doc []byte) (string, any, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return "", nil, err
	}
	if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
		return "", nil, nil
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return "", nil, err
	}
	kind := tm.APIVersion + "/" + tm.Kind
	newObj, ok := kinds[kind]
	if !ok {
		return kind, nil, fmt.Errorf("unknown apiVersion/kind %q", kind)
	}
	obj := newObj()
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return kind, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return kind, nil, fmt.Errorf("data after the object")
	}
	return kind, obj, nil
}

// manifests decodes every YAML file under deploy/ but testdata (compose/testdata: the compose
// test's load profile).
func manifests(t *testing.T) []object {
	t.Helper()
	var objs []object
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "testdata" {
			return fs.SkipDir
		}
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		if strings.HasPrefix(filepath.ToSlash(path), prometheusDir+"/") {
			return nil // Prometheus rule files, not Kubernetes objects (prometheus_test.go)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, doc := range docSeparator.Split(string(data), -1) {
			kind, obj, err := decodeStrict([]byte(doc))
			if err != nil {
				t.Errorf("%s, document %d: %v", path, i, err)
				continue
			}
			if obj != nil {
				objs = append(objs, object{file: filepath.ToSlash(path), doc: i, kind: kind, obj: obj})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatal("no manifests under deploy/")
	}
	return objs
}

// The decoder this test relies on refuses what the API server would silently drop or refuse.
func TestDecodeStrictRefuses(t *testing.T) {
	for _, tt := range []struct{ name, doc, want string }{
		{"a misspelt field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 1}\n", `unknown field "replica"`},
		{"a misplaced field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80, containerPort: 80}]}\n", `unknown field "containerPort"`},
		{"an unknown kind", "apiVersion: v1\nkind: Deployment\nmetadata: {name: x}\n", "unknown apiVersion/kind"},
		{"a duplicate key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nmetadata: {name: y}\n", "already set"},
		{"a wrong type", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec: {completions: three}\n", "cannot unmarshal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeStrict([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one with %q", err, tt.want)
			}
		})
	}
}

// Every document of every manifest decodes strictly into its Kubernetes API type.
func TestManifestsDecodeStrictly(t *testing.T) {
	seen := map[string]int{}
	for _, o := range manifests(t) {
		seen[o.kind]++
	}
	for _, want := range []string{"apps/v1/Deployment", "v1/Service", "v1/ConfigMap", "batch/v1/Job", "v1/PersistentVolumeClaim"} {
		if seen[want] == 0 {
			t.Errorf("no %s among the manifests: %v", want, seen)
		}
	}
}

func byKind[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.obj.(*T); ok {
			out = append(out, *v)
		}
	}
	return out
}

// nginx in Kubernetes serves with the files docker-compose's nginx mounts, byte for byte and at
// the same paths, so that neither can drift from the site file sim's own nginx includes.
func TestNginxConfigMatchesCompose(t *testing.T) {
	objs := manifests(t)
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Volumes []string `json:"volumes"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	composePath := map[string]string{} // host file, relative to the module root → container path
	for _, v := range compose.Services["nginx"].Volumes {
		parts := strings.Split(v, ":")
		composePath[filepath.ToSlash(filepath.Clean(parts[0]))] = parts[1]
	}
	var cm *corev1.ConfigMap
	for _, c := range byKind[corev1.ConfigMap](objs) {
		if c.Name == "nginx-site" {
			cm = &c
		}
	}
	var nginx *corev1.Container
	var volumes []corev1.Volume
	for _, d := range byKind[appsv1.Deployment](objs) {
		for i, c := range d.Spec.Template.Spec.Containers {
			if strings.HasPrefix(c.Image, "nginx:") {
				nginx, volumes = &d.Spec.Template.Spec.Containers[i], d.Spec.Template.Spec.Volumes
			}
		}
	}
	if cm == nil || nginx == nil {
		t.Fatal("no ConfigMap nginx-site or no nginx Deployment")
	}
	siteVolume := ""
	for _, v := range volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Name {
			siteVolume = v.Name
		}
	}
	if len(composePath) < 3 {
		t.Fatalf("docker-compose.yml's nginx mounts %v: want the site file, its wrapper and the page", composePath)
	}
	if !bytes.Equal(mustRead(t, static.SiteConfPath), static.SiteConf()) {
		t.Fatalf("%s differs from the site file sim's nginx includes", static.SiteConfPath)
	}
	for host, inContainer := range composePath {
		want := mustRead(t, host)
		key := ""
		for k, v := range cm.Data {
			if v == string(want) {
				key = k
			}
		}
		if key == "" {
			t.Errorf("ConfigMap %s holds no copy of %s (mounted by docker-compose at %s): copy the file into it", cm.Name, host, inContainer)
			continue
		}
		mounted := false
		for _, m := range nginx.VolumeMounts {
			if m.Name == siteVolume && m.SubPath == key {
				mounted = true
				if m.MountPath != inContainer {
					t.Errorf("key %s (%s) is mounted at %s; docker-compose mounts it at %s", key, host, m.MountPath, inContainer)
				}
			}
		}
		if !mounted {
			t.Errorf("key %s (%s) is not mounted in the nginx container", key, host)
		}
	}
	if len(cm.Data) != len(composePath) {
		t.Errorf("ConfigMap %s has keys %v; docker-compose's nginx mounts %d files", cm.Name, slices.Sorted(mapKeys(cm.Data)), len(composePath))
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mustRead(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Every Service selects a Deployment's pods and forwards to ports they name.
func TestServicesSelectPods(t *testing.T) {
	objs := manifests(t)
	deps := byKind[appsv1.Deployment](objs)
	for _, svc := range byKind[corev1.Service](objs) {
		var pod *corev1.PodSpec
		for i, d := range deps {
			if matches(svc.Spec.Selector, d.Spec.Template.Labels) {
				if pod != nil {
					t.Errorf("Service %s selects the pods of several Deployments", svc.Name)
				}
				pod = &deps[i].Spec.Template.Spec
			}
			if !matches(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				t.Errorf("Deployment %s: its selector does not match its own pods", d.Name)
			}
		}
		if pod == nil {
			t.Errorf("Service %s selects no Deployment's pods (selector %v)", svc.Name, svc.Spec.Selector)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if containerPort(pod, p.TargetPort.String()) == 0 {
				t.Errorf("Service %s port %s: target port %q is not a port of the pods it selects", svc.Name, p.Name, p.TargetPort.String())
			}
		}
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// containerPort returns the port number that name (a port name or number) means in pod, 0 if
// none.
func containerPort(pod *corev1.PodSpec, name string) int32 {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if p.Name == name || strconv.Itoa(int(p.ContainerPort)) == name {
				return p.ContainerPort
			}
		}
	}
	return 0
}

// shardArg is the --shard of a load Job's pods: the completion index over the shard count.
var shardArg = regexp.MustCompile(`^--shard=\$\(JOB_COMPLETION_INDEX\)/([0-9]+)$`)

// Every load Job is an Indexed Job of N pods at once, each pod one shard of N, whose target and
// agent are Services these manifests define, on ports they serve, and whose records go to a
// claim they define.
func TestLoadJobsShardTheLoad(t *testing.T) {
	objs := manifests(t)
	services := map[string]corev1.Service{}
	for _, s := range byKind[corev1.Service](objs) {
		services[s.Name] = s
	}
	claims := map[string]bool{}
	for _, c := range byKind[corev1.PersistentVolumeClaim](objs) {
		claims[c.Name] = true
	}
	jobs := byKind[batchv1.Job](objs)
	if len(jobs) == 0 {
		t.Fatal("no load Job")
	}
	for _, j := range jobs {
		name := j.GenerateName
		spec := j.Spec
		if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
			t.Errorf("Job %s: completionMode %v, want Indexed (JOB_COMPLETION_INDEX numbers the shards)", name, spec.CompletionMode)
		}
		if spec.Completions == nil || spec.Parallelism == nil || *spec.Completions != *spec.Parallelism {
			t.Errorf("Job %s: completions %v, parallelism %v: want equal, all shards at once", name, spec.Completions, spec.Parallelism)
			continue
		}
		if len(spec.Template.Spec.Containers) != 1 {
			t.Fatalf("Job %s: %d containers, want the load's one", name, len(spec.Template.Spec.Containers))
		}
		c := spec.Template.Spec.Containers[0]
		var shards, target, watch string
		for _, a := range c.Args {
			if m := shardArg.FindStringSubmatch(a); m != nil {
				shards = m[1]
			}
			if v, ok := strings.CutPrefix(a, "--target="); ok {
				target = v
			}
			if v, ok := strings.CutPrefix(a, "--watch="); ok {
				watch = v
			}
		}
		if shards != strconv.Itoa(int(*spec.Completions)) {
			t.Errorf("Job %s: args %v: want --shard=$(JOB_COMPLETION_INDEX)/%d, as many shards as completions", name, c.Args, *spec.Completions)
		}
		for _, u := range []string{target, watch} {
			if err := servedBy(u, services); err != nil {
				t.Errorf("Job %s: %v", name, err)
			}
		}
		for _, v := range spec.Template.Spec.Volumes {
			if pvc := v.PersistentVolumeClaim; pvc != nil && !claims[pvc.ClaimName] {
				t.Errorf("Job %s: claim %s is not among the manifests", name, pvc.ClaimName)
			}
		}
	}
}

// servedBy checks that raw, an http URL, names a Service in services and one of its ports.
func servedBy(raw string, services map[string]corev1.Service) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("URL %q: want http://SERVICE:PORT", raw)
	}
	svc, ok := services[u.Hostname()]
	if !ok {
		return fmt.Errorf("URL %s: no Service %s among the manifests", raw, u.Hostname())
	}
	for _, p := range svc.Spec.Ports {
		if strconv.Itoa(int(p.Port)) == u.Port() {
			return nil
		}
	}
	return fmt.Errorf("URL %s: Service %s has no port %s", raw, svc.Name, u.Port())
}

// jobVars are sample values of the variables Kubernetes expands in the load Job's args.
var jobVars = strings.NewReplacer("$(JOB_COMPLETION_INDEX)", "0", "$(JOB_NAME)", "sim-load-self-x7k2p")

// Every sim container's command line is one sim takes: its subcommand and flags exist and
// their values have the right types (sim ARGS --help parses them and stops).
func TestSimArgsParse(t *testing.T) {
	objs := manifests(t)
	bin := filepath.Join(t.TempDir(), "sim")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sim")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build sim: %v\n%s", err, out)
	}
	n := 0
	for _, o := range objs {
		for _, c := range containers(o.obj) {
			if !strings.HasPrefix(c.Image, "sim:") || len(c.Command) > 0 {
				continue
			}
			n++
			args := strings.Fields(jobVars.Replace(strings.Join(c.Args, " ")))
			out, err := exec.Command(bin, append(args, "--help")...).CombinedOutput()
			if err != nil {
				t.Errorf("%s, container %s: sim %s: %v\n%s", o, c.Name, strings.Join(args, " "), err, lastLines(out))
			}
		}
	}
	if n == 0 {
		t.Fatal("no sim container among the manifests")
	}
}

func containers(obj any) []corev1.Container {
	switch v := obj.(type) {
	case *appsv1.Deployment:
		return v.Spec.Template.Spec.Containers
	case *batchv1.Job:
		return v.Spec.Template.Spec.Containers
	case *corev1.Pod:
		return v.Spec.Containers
	}
	return nil
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(len(lines)-3, 0):], "\n")
}

// The Secret the sim containers read is the one README.md tells the user to create.
func TestWatchTokenSecretIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range manifests(t) {
		for _, c := range containers(o.obj) {
			for _, e := range c.Env {
				ref := e.ValueFrom
				if ref == nil || ref.SecretKeyRef == nil {
					continue
				}
				want := fmt.Sprintf("kubectl create secret generic %s --from-literal=%s=", ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
				if !bytes.Contains(readme, []byte(want)) {
					t.Errorf("%s, container %s reads Secret %s key %s; README.md does not say %q", o, c.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key, want)
				}
			}
		}
	}
}
