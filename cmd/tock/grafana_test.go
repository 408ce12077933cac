package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tock-sched/tock/internal/metrics"
	"github.com/tock-sched/tock/internal/replica"
)

// repoRoot is where docker-compose.yml's relative paths start.
const repoRoot = "../.."

// composeFile is the part of docker-compose.yml the monitoring tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   yaml.Node         `yaml:"depends_on"`
}

// dependsOn lists the services s waits for, in either compose syntax.
func (s composeService) dependsOn() []string {
	var list []string
	if s.DependsOn.Decode(&list) == nil {
		return list
	}
	var m map[string]any
	if s.DependsOn.Decode(&m) == nil {
		for k := range m {
			list = append(list, k)
		}
	}
	return list
}

// mounts maps each container path of s's bind mounts to its host path,
// relative to the repository root.
func (s composeService) mounts(t *testing.T, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], "./") {
			continue // a named volume
		}
		if len(parts) != 3 || parts[2] != "ro" {
			t.Errorf("%s: bind mount %q is not read-only", name, v)
		}
		out[parts[1]] = parts[0]
	}
	return out
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc composeFile
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return doc
}

// composeReplica is a tock service of the compose file as Prometheus sees it.
type composeReplica struct {
	port      string
	readToken bool
}

// composeReplicas returns the tock services by name, with the port their
// HTTP server listens on, read from their command line as tock parses it.
func composeReplicas(t *testing.T, doc composeFile) map[string]composeReplica {
	t.Helper()
	out := map[string]composeReplica{}
	for name, svc := range doc.Services {
		if !strings.HasPrefix(name, "tock") {
			continue
		}
		root := newRootCmd()
		cmd, rest, err := root.Find(svc.Command)
		if err != nil || cmd == root {
			t.Fatalf("%s: %v: not a tock command", name, svc.Command)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Flag defaults come from this process's environment; the
		// container's comes from the compose file.
		listen := replica.DefaultListen
		if v, ok := svc.Environment["TOCK_LISTEN"]; ok {
			listen = v
		}
		if cmd.Flags().Changed("listen") {
			listen, _ = cmd.Flags().GetString("listen")
		}
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			t.Fatalf("%s: listen address %q: %v", name, listen, err)
		}
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			t.Errorf("%s listens on %s: Prometheus in another container cannot scrape it", name, listen)
		}
		token := svc.Environment["TOCK_API_READ_TOKEN"] != ""
		if cmd.Flags().Changed("api-read-token") {
			v, _ := cmd.Flags().GetString("api-read-token")
			token = v != ""
		}
		out[name] = composeReplica{port: port, readToken: token}
	}
	if len(out) == 0 {
		t.Fatal("compose file has no tock replicas")
	}
	return out
}

// checkPinned fails unless image is repo with a tag other than latest.
func checkPinned(t *testing.T, name, image, repo string) {
	t.Helper()
	r, tag, ok := strings.Cut(image, ":")
	if r != repo || !ok || tag == "" || tag == "latest" {
		t.Errorf("%s: image %q, want %s with a pinned tag", name, image, repo)
	}
}

// TestComposeMonitoring checks that docker-compose.yml runs Prometheus and
// Grafana with configuration files that exist in the repository, mounted
// where each reads them.
func TestComposeMonitoring(t *testing.T) {
	t.Parallel()
	doc := readCompose(t)
	prom, ok := doc.Services["prometheus"]
	if !ok {
		t.Fatal("compose file has no prometheus service")
	}
	graf, ok := doc.Services["grafana"]
	if !ok {
		t.Fatal("compose file has no grafana service")
	}
	checkPinned(t, "prometheus", prom.Image, "prom/prometheus")
	checkPinned(t, "grafana", graf.Image, "grafana/grafana")

	for name, svc := range map[string]composeService{"prometheus": prom, "grafana": graf} {
		for _, host := range svc.mounts(t, name) {
			if _, err := os.Stat(filepath.Join(repoRoot, host)); err != nil {
				t.Errorf("%s mounts %s: %v", name, host, err)
			}
		}
	}

	configPath := "/etc/prometheus/prometheus.yml"
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			configPath = v
		}
	}
	if got := prom.mounts(t, "prometheus")[configPath]; path.Clean(got) != "deploy/prometheus/prometheus.yml" {
		t.Errorf("prometheus reads %s, which mounts %q, want ./deploy/prometheus/prometheus.yml", configPath, got)
	}
	gm := graf.mounts(t, "grafana")
	if got := gm["/etc/grafana/provisioning"]; path.Clean(got) != "deploy/grafana/provisioning" {
		t.Errorf("grafana's /etc/grafana/provisioning mounts %q, want ./deploy/grafana/provisioning", got)
	}
	if !slices.ContainsFunc(graf.Ports, func(p string) bool { return strings.HasSuffix(p, ":3000") }) {
		t.Errorf("grafana publishes %v, not port 3000", graf.Ports)
	}
	if !slices.ContainsFunc(prom.Ports, func(p string) bool { return strings.HasSuffix(p, ":9090") }) {
		t.Errorf("prometheus publishes %v, not port 9090", prom.Ports)
	}
	if graf.Environment["GF_SECURITY_ADMIN_PASSWORD"] == "" {
		t.Errorf("grafana: GF_SECURITY_ADMIN_PASSWORD not set")
	}

	for name := range composeReplicas(t, doc) {
		if !slices.Contains(prom.dependsOn(), name) {
			t.Errorf("prometheus does not depend on %s", name)
		}
	}
	if !slices.Contains(graf.dependsOn(), "prometheus") {
		t.Errorf("grafana does not depend on prometheus")
	}
}

// prometheusConfig is the part of prometheus.yml the tests read.
type prometheusConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName        string    `yaml:"job_name"`
		HonorLabels    bool      `yaml:"honor_labels"`
		ScrapeInterval string    `yaml:"scrape_interval"`
		MetricsPath    string    `yaml:"metrics_path"`
		Authorization  yaml.Node `yaml:"authorization"`
		StaticConfigs  []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// TestPrometheusScrapesEveryReplica checks that deploy/prometheus's job tock
// scrapes exactly the compose file's tock services, at the port each
// listens on, and that Prometheus's own checker accepts the file.
func TestPrometheusScrapesEveryReplica(t *testing.T) {
	t.Parallel()
	file := filepath.Join(repoRoot, "deploy/prometheus/prometheus.yml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cfg prometheusConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	replicas := composeReplicas(t, readCompose(t))
	var want []string
	readToken := false
	for name, r := range replicas {
		want = append(want, net.JoinHostPort(name, r.port))
		readToken = readToken || r.readToken
	}
	slices.Sort(want)

	jobs := 0
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "tock" {
			continue
		}
		jobs++
		var got []string
		for _, st := range sc.StaticConfigs {
			got = append(got, st.Targets...)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("job tock scrapes %v, want %v", got, want)
		}
		// tock labels run metrics with job; the dashboard groups by it.
		if !sc.HonorLabels {
			t.Errorf("job tock lacks honor_labels: true, so tock's label job becomes exported_job")
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job tock scrapes %s, want /metrics", sc.MetricsPath)
		}
		interval := sc.ScrapeInterval
		if interval == "" {
			interval = cfg.Global.ScrapeInterval
		}
		if interval != "5s" {
			t.Errorf("job tock scrapes every %q, want 5s", interval)
		}
		// With a read token, /metrics answers 401 to a scrape without it.
		if readToken && sc.Authorization.IsZero() {
			t.Errorf("a replica sets a read token, and job tock has no authorization")
		}
	}
	if jobs != 1 {
		t.Errorf("prometheus.yml has %d scrape jobs named tock, want 1", jobs)
	}

	promtool := lookPromtool(t)
	out, err := exec.Command(promtool, "check", "config", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}

// lookPromtool finds promtool, skipping the test without it outside CI.
func lookPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is missing in CI: scripts/test.sh must install the Debian package prometheus")
		}
		t.Skip("SKIPPING the promtool check: promtool not found; install it with `apt-get install -y --no-install-recommends prometheus` (scripts/test.sh does)")
	}
	return p
}

// dashboard is the part of a Grafana dashboard JSON the tests read.
type dashboard struct {
	UID           string          `json:"uid"`
	Title         string          `json:"title"`
	SchemaVersion int             `json:"schemaVersion"`
	Panels        []dashboardItem `json:"panels"`
	Templating    struct {
		List []struct {
			Name    string `json:"name"`
			Type    string `json:"type"`
			Query   any    `json:"query"`
			Current struct {
				Value any `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
}

type dashboardItem struct {
	ID         int              `json:"id"`
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	Datasource *grafanaDS       `json:"datasource"`
	Targets    []dashboardQuery `json:"targets"`
	Panels     []dashboardItem  `json:"panels"` // a collapsed row's
}

type dashboardQuery struct {
	RefID      string     `json:"refId"`
	Expr       string     `json:"expr"`
	Datasource *grafanaDS `json:"datasource"`
}

type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// promString matches PromQL string literals, whose content is no metric.
var promString = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")

// promIdent matches PromQL identifiers: metric, label and function names.
var promIdent = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// tockMetrics returns the tock series names expr reads.
func tockMetrics(expr string) []string {
	var names []string
	for _, id := range promIdent.FindAllString(promString.ReplaceAllString(expr, `""`), -1) {
		if strings.HasPrefix(id, "tock_") && !slices.Contains(names, id) {
			names = append(names, id)
		}
	}
	return names
}

// TestTockMetricsInExpr checks the metric names found in PromQL, ignoring
// string literals.
func TestTockMetricsInExpr(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string][]string{
		`sum by (status) (rate(tock_runs_total{status=~"failed|tock_fake"}[$__rate_interval]))`: {"tock_runs_total"},
		`histogram_quantile(0.99, sum by (le) (rate(tock_fire_delay_seconds_bucket[5m])))`:      {"tock_fire_delay_seconds_bucket"},
		`tock_leader == 1 or on() tock_leader_epoch > tock_leader`:                              {"tock_leader", "tock_leader_epoch"},
		`sum(tock_job_alert) or vector(0)`:                                                      {"tock_job_alert"},
		`up{job='tock_x'}`:                                                                      nil,
	} {
		if got := tockMetrics(expr); !slices.Equal(got, want) {
			t.Errorf("tockMetrics(%s) = %v, want %v", expr, got, want)
		}
	}
}

// grafanaIntervals are the Grafana variables that stand for a range.
var grafanaIntervals = regexp.MustCompile(`\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}`)

// TestDashboardUsesExportedMetrics checks deploy/grafana: every panel of the
// tock dashboard queries the provisioned Prometheus, and every tock metric
// its queries read is one a tock replica exports.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	dsUID := provisionedDatasource(t)
	checkDashboardProvider(t)

	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy/grafana/dashboards/tock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("tock.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("tock.json: uid %q, title %q, schemaVersion %d: not a current Grafana dashboard", d.UID, d.Title, d.SchemaVersion)
	}

	// A datasource variable lets the file be imported elsewhere; here it
	// must default to the provisioned datasource.
	resolve := func(ds *grafanaDS) string {
		if ds == nil {
			return ""
		}
		name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ds.UID, "$"), "{"), "}")
		if name == ds.UID {
			return ds.UID
		}
		for _, v := range d.Templating.List {
			if v.Name == name && v.Type == "datasource" && v.Query == "prometheus" {
				return fmt.Sprint(v.Current.Value)
			}
		}
		return "undefined variable " + ds.UID
	}

	m := metrics.New()
	m.Observe(metrics.Sources{})
	exported := m.Names()

	var panels []dashboardItem
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	used := map[string]bool{}
	var exprs []string
	for _, p := range panels {
		if p.Type == "row" {
			continue
		}
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if len(p.Targets) == 0 {
			t.Errorf("%s has no query", name)
		}
		if p.Datasource != nil && (p.Datasource.Type != "prometheus" || resolve(p.Datasource) != dsUID) {
			t.Errorf("%s: datasource %+v is not the provisioned Prometheus %q", name, p.Datasource, dsUID)
		}
		for _, q := range p.Targets {
			ds := q.Datasource
			if ds == nil {
				ds = p.Datasource
			}
			if ds == nil || ds.Type != "prometheus" || resolve(ds) != dsUID {
				t.Errorf("%s query %s: datasource %+v is not the provisioned Prometheus %q", name, q.RefID, ds, dsUID)
			}
			got := tockMetrics(q.Expr)
			if len(got) == 0 {
				t.Errorf("%s query %s reads no tock metric: %q", name, q.RefID, q.Expr)
			}
			for _, n := range got {
				used[n] = true
				if !slices.Contains(exported, n) {
					t.Errorf("%s query %s reads %s, which tock does not export", name, q.RefID, n)
				}
			}
			exprs = append(exprs, q.Expr)
		}
	}
	// What the dashboard is for: throughput, failures, fire delay, run
	// duration, leadership, queue, workers, lease, reaper, breakers.
	for _, n := range []string{
		"tock_runs_total", "tock_fire_delay_seconds_bucket", "tock_run_duration_seconds_bucket",
		"tock_leader", "tock_leader_epoch", "tock_queue_depth", "tock_worker_slots",
		"tock_lease_renewal_failures_total", "tock_reaper_actions_total", "tock_http_breaker_state",
	} {
		if !used[n] {
			t.Errorf("the dashboard shows no %s", n)
		}
	}

	checkPromQL(t, exprs)
}

// checkPromQL has promtool parse every query, as recording rules.
func checkPromQL(t *testing.T, exprs []string) {
	t.Helper()
	promtool := lookPromtool(t)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		e = grafanaIntervals.ReplaceAllString(e, "1m")
		if strings.Contains(e, "$") {
			t.Errorf("query %q uses a Grafana variable this test cannot substitute", e)
			continue
		}
		rules = append(rules, rule{Record: fmt.Sprintf("tock_dashboard:query_%d", i), Expr: e})
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, res)
	}
}

// provisionedDatasource returns the uid of the Prometheus datasource Grafana
// provisions, after checking it points at the compose file's Prometheus.
func provisionedDatasource(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy/grafana/provisioning/datasources/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("datasources/prometheus.yml: %v", err)
	}
	if len(f.Datasources) != 1 {
		t.Fatalf("datasources/prometheus.yml has %d datasources, want 1", len(f.Datasources))
	}
	ds := f.Datasources[0]
	if ds.Type != "prometheus" || ds.UID == "" {
		t.Errorf("datasource: type %q, uid %q", ds.Type, ds.UID)
	}
	u, err := url.Parse(ds.URL)
	if err != nil {
		t.Fatalf("datasource url: %v", err)
	}
	doc := readCompose(t)
	svc, ok := doc.Services[u.Hostname()]
	if !ok || !strings.HasPrefix(svc.Image, "prom/prometheus:") || u.Port() != "9090" {
		t.Errorf("datasource url %s is not the compose file's Prometheus on port 9090", ds.URL)
	}
	return ds.UID
}

// checkDashboardProvider checks that Grafana's dashboard provider reads the
// directory the compose file mounts deploy/grafana/dashboards on.
func checkDashboardProvider(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy/grafana/provisioning/dashboards/tock.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("dashboards/tock.yml: %v", err)
	}
	if len(f.Providers) != 1 || f.Providers[0].Type != "file" {
		t.Fatalf("dashboards/tock.yml: want one file provider, have %+v", f.Providers)
	}
	graf := readCompose(t).Services["grafana"]
	host := graf.mounts(t, "grafana")[f.Providers[0].Options.Path]
	if path.Clean(host) != "deploy/grafana/dashboards" {
		t.Errorf("the dashboard provider reads %s, where grafana mounts %q, want ./deploy/grafana/dashboards", f.Providers[0].Options.Path, host)
	}
}
