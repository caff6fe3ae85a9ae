package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/config"
)

// k8sObject is the part of a Kubernetes manifest the test checks.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		// Service
		ServiceSelector map[string]string `yaml:"-"`
		Template        struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int            `yaml:"terminationGracePeriodSeconds"`
				Containers                    []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		// PodDisruptionBudget
		MaxUnavailable any `yaml:"maxUnavailable"`
		MinAvailable   any `yaml:"minAvailable"`
		// HorizontalPodAutoscaler
		ScaleTargetRef struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas int `yaml:"minReplicas"`
		MaxReplicas int `yaml:"maxReplicas"`
		Metrics     []struct {
			Type     string `yaml:"type"`
			Resource struct {
				Name   string `yaml:"name"`
				Target struct {
					Type               string `yaml:"type"`
					AverageUtilization int    `yaml:"averageUtilization"`
				} `yaml:"target"`
			} `yaml:"resource"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds int `yaml:"periodSeconds"`
}

type k8sContainer struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
}

// loadManifests decodes every document of every deploy/k8s/*.yaml.
func loadManifests(t *testing.T) map[string]k8sObject {
	t.Helper()
	files, err := filepath.Glob("../../deploy/k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under deploy/k8s: %v", err)
	}
	out := map[string]k8sObject{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "Kustomization" {
				continue
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or name", f)
				continue
			}
			out[o.Kind] = o
		}
	}
	return out
}

// TestKubernetesManifests checks deploy/k8s: a Deployment of several
// replicas with readiness on /readyz and liveness on /healthz, a grace
// period that covers the drain, CPU requests for the autoscaler, only
// environment variables cityagent reads, secrets from the Secret's keys; a
// Service, PodDisruptionBudget and HorizontalPodAutoscaler (on CPU) that
// select and target it.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	for _, kind := range []string{"Deployment", "Service", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler"} {
		if _, ok := m[kind]; !ok {
			t.Fatalf("deploy/k8s has no %s", kind)
		}
	}
	dep, sec := m["Deployment"], m["Secret"]
	pod := dep.Spec.Template.Metadata.Labels
	matches := func(sel map[string]string) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if pod[k] != v {
				return false
			}
		}
		return true
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Errorf("Deployment replicas %v, want at least 2", dep.Spec.Replicas)
	}
	if !matches(dep.Spec.Selector.MatchLabels) {
		t.Errorf("Deployment selector %v does not select its pods %v", dep.Spec.Selector.MatchLabels, pod)
	}
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(dep.Spec.Template.Spec.Containers))
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", c.ReadinessProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v, want GET /healthz (not /readyz: a database outage must not restart every pod)", c.LivenessProbe)
	}
	if c.Resources.Requests["cpu"] == "" {
		t.Error("no CPU request: the autoscaler's utilisation is relative to it")
	}
	known := map[string]bool{}
	for _, e := range config.Env {
		known[e.Name] = true
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if !known[e.Name] {
			t.Errorf("container sets %s, which config.Env does not know", e.Name)
		}
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := sec.StringData[ref.Key]
			if ref.Name != sec.Metadata.Name || !ok {
				t.Errorf("%s reads key %s of Secret %s, which deploy/k8s/secret.yaml does not hold", e.Name, ref.Key, ref.Name)
			}
			env[e.Name] = v
		case strings.Contains(strings.ToUpper(e.Name), "KEY") || strings.Contains(e.Value, "@"):
			t.Errorf("%s is set in plain text; take it from the Secret", e.Name)
		default:
			env[e.Name] = e.Value
		}
	}
	for _, need := range []string{"CITYAGENT_DATABASE_URL", "CITYAGENT_REDIS_URL", "CITYAGENT_ADDR"} {
		if env[need] == "" {
			t.Errorf("container does not set %s", need)
		}
	}
	cfg, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config from the Deployment's environment: %v", err)
	}
	if cfg.DatabaseURL == "" || cfg.ScaleOut.RedisURL == "" {
		t.Errorf("replicas must share state and counters: database_url %q, redis_url %q", cfg.DatabaseURL, cfg.ScaleOut.RedisURL)
	}
	grace := time.Duration(dep.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if need := cfg.ScaleOut.DrainDelay + cfg.Server.ShutdownTimeout; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %v does not cover drain_delay + shutdown_timeout = %v", grace, need)
	}
	svc := m["Service"]
	var svcSpec struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
		} `yaml:"spec"`
	}
	data, _ := os.ReadFile("../../deploy/k8s/deployment.yaml")
	for _, doc := range strings.Split(string(data), "\n---\n") {
		if strings.Contains(doc, "kind: Service\n") {
			if err := yaml.Unmarshal([]byte(doc), &svcSpec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if svc.Metadata.Name == "" || !matches(svcSpec.Spec.Selector) {
		t.Errorf("Service selector %v does not select the pods %v", svcSpec.Spec.Selector, pod)
	}
	pdb := m["PodDisruptionBudget"]
	if !matches(pdb.Spec.Selector.MatchLabels) || (pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil) {
		t.Errorf("PodDisruptionBudget %+v does not bound disruptions of the pods", pdb.Spec)
	}
	hpa := m["HorizontalPodAutoscaler"]
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != dep.Metadata.Name {
		t.Errorf("HPA targets %+v, want Deployment %s", hpa.Spec.ScaleTargetRef, dep.Metadata.Name)
	}
	if hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < hpa.Spec.MinReplicas {
		t.Errorf("HPA replicas %d–%d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	cpu := slices.ContainsFunc(hpa.Spec.Metrics, func(x struct {
		Type     string `yaml:"type"`
		Resource struct {
			Name   string `yaml:"name"`
			Target struct {
				Type               string `yaml:"type"`
				AverageUtilization int    `yaml:"averageUtilization"`
			} `yaml:"target"`
		} `yaml:"resource"`
	}) bool {
		return x.Type == "Resource" && x.Resource.Name == "cpu" && x.Resource.Target.AverageUtilization > 0
	})
	if !cpu {
		t.Errorf("HPA does not scale on CPU utilisation: %+v", hpa.Spec.Metrics)
	}
}

// TestComposeReplicas checks the scaled-out parts of compose.yaml: three
// cityagent replicas with the same configuration on shared PostgreSQL and
// Redis, each with its own data volume, behind a balancer whose nginx
// upstreams are exactly those replicas, and a stop grace period that
// covers the drain.
func TestComposeReplicas(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	var replicas []string
	for name, s := range c.Services {
		if s.Build != nil {
			replicas = append(replicas, name)
		}
	}
	slices.Sort(replicas)
	if !slices.Equal(replicas, []string{"cityagent", "cityagent-2", "cityagent-3"}) {
		t.Fatalf("replicas built from the Dockerfile: %v, want cityagent, cityagent-2, cityagent-3", replicas)
	}
	first := c.Services["cityagent"]
	vols := map[string]bool{}
	for _, name := range replicas {
		s := c.Services[name]
		if len(s.Environment) != len(first.Environment) {
			t.Errorf("%s has %d environment variables, the first replica %d", name, len(s.Environment), len(first.Environment))
		}
		for k, v := range first.Environment {
			if s.Environment[k] != v {
				t.Errorf("%s: %s=%q differs from the first replica's %q", name, k, s.Environment[k], v)
			}
		}
		for _, v := range s.Volumes {
			vol, _, _ := strings.Cut(v, ":")
			if vols[vol] {
				t.Errorf("%s shares data volume %s with another replica", name, vol)
			}
			vols[vol] = true
		}
		for _, dep := range []string{"postgres", "redis"} {
			if s.DependsOn[dep].Condition != "service_healthy" {
				t.Errorf("%s does not wait for %s to be healthy", name, dep)
			}
		}
	}
	cfg, err := config.Load("", func(k string) string { return resolve(first.Environment[k], nil) })
	if err != nil {
		t.Fatalf("config of the replicas: %v", err)
	}
	if cfg.DatabaseURL == "" || !strings.HasPrefix(cfg.ScaleOut.RedisURL, "redis://redis:") {
		t.Errorf("replicas must share state and counters: database_url %q, redis_url %q", cfg.DatabaseURL, cfg.ScaleOut.RedisURL)
	}
	if _, ok := c.Services["redis"]; !ok {
		t.Error("no redis service")
	}

	lb, ok := c.Services["lb"]
	if !ok || !strings.HasPrefix(lb.Image, "nginx:") {
		t.Fatalf("no nginx balancer service lb: %+v", lb)
	}
	for _, name := range replicas {
		if lb.DependsOn[name].Condition != "service_healthy" {
			t.Errorf("lb does not wait for %s", name)
		}
	}
	var conf string
	for _, v := range lb.Volumes {
		if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/etc/nginx/") {
			b, err := os.ReadFile(filepath.Join("../..", src))
			if err != nil {
				t.Fatal(err)
			}
			conf = string(b)
		}
	}
	var upstreams []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([a-z0-9-]+):8080\b`).FindAllStringSubmatch(conf, -1) {
		upstreams = append(upstreams, m[1])
	}
	slices.Sort(upstreams)
	if !slices.Equal(upstreams, replicas) {
		t.Errorf("nginx upstreams %v, want the replicas %v", upstreams, replicas)
	}
	for _, need := range []string{"proxy_buffering off", "proxy_next_upstream", "proxy_http_version 1.1"} {
		if !strings.Contains(conf, need) {
			t.Errorf("nginx.conf lacks %q (streams, draining replicas)", need)
		}
	}
	var raw struct {
		Services map[string]struct {
			StopGracePeriod string `yaml:"stop_grace_period"`
		} `yaml:"services"`
	}
	data, _ := os.ReadFile("../../compose.yaml")
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, name := range replicas {
		g, err := time.ParseDuration(raw.Services[name].StopGracePeriod)
		if err != nil || g <= cfg.ScaleOut.DrainDelay+cfg.Server.ShutdownTimeout {
			t.Errorf("%s: stop_grace_period %q does not cover drain_delay + shutdown_timeout", name, raw.Services[name].StopGracePeriod)
		}
	}
}
