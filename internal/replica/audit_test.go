package replica

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/storage"
)

const auditV1 = "jobs:\n" +
	"  - {name: a, schedule: \"0 0 1 1 *\", http: {url: \"http://127.0.0.1:1/a\"}}\n" +
	"  - {name: b, schedule: \"0 0 1 1 *\", http: {url: \"http://127.0.0.1:1/b\"}}\n"
const auditV2 = "jobs:\n" +
	"  - {name: b, schedule: \"0 0 2 1 *\", http: {url: \"http://127.0.0.1:1/b\"}}\n" +
	"  - {name: c, schedule: \"0 0 1 1 *\", http: {url: \"http://127.0.0.1:1/c\"}}\n"

// A replica records its config in the audit trail under config:NODE: the
// one it starts with, each changed file it applies (with the jobs added,
// removed and changed) and each file it refuses (with the error).
func TestConfigChangesAudited(t *testing.T) {
	path := writeConfig(t, auditV1)
	write := func(s string) { t.Helper(); writeFile(t, path, s) }
	r := runReplica(t, path, "n1")

	// rows waits until the audit trail holds n rows and returns them,
	// oldest first.
	rows := func(n int) []storage.AuditEntry {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; {
			got, err := r.store.ListAudit(t.Context(), storage.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) >= n {
				for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
					got[i], got[j] = got[j], got[i]
				}
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit trail holds %d rows, want %d: %+v", len(got), n, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	detail := func(e storage.AuditEntry) map[string]any {
		t.Helper()
		var d map[string]any
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
			t.Fatalf("detail %q: %v", e.Detail, err)
		}
		return d
	}

	load := rows(1)[0]
	if load.Action != storage.ActionConfigLoad || load.Actor != "config:n1" || load.Source != storage.SourceConfig ||
		load.Target != "config/tock.yaml" || detail(load)["file"] != path || detail(load)["jobs"] != 2.0 || detail(load)["digest"] != r.Config().Digest {
		t.Fatalf("load row %+v", load)
	}

	v1 := r.Config().Digest
	write(auditV2)
	r.reloader.Reload()
	reload := rows(2)[1]
	d := detail(reload)
	if reload.Action != storage.ActionConfigReload || d["from"] != v1 || d["digest"] != r.Config().Digest ||
		d["added"] != 1.0 || d["removed"] != 1.0 || d["changed"] != 1.0 ||
		!strings.Contains(reload.Detail, `"added_names":["c"]`) || !strings.Contains(reload.Detail, `"removed_names":["a"]`) ||
		!strings.Contains(reload.Detail, `"changed_names":["b"]`) {
		t.Fatalf("reload row %+v", reload)
	}

	v2 := r.Config().Digest
	write(auditV2 + "  - {name: d, schedule: \"nope\", http: {url: \"http://127.0.0.1:1/d\"}}\n")
	r.reloader.Reload()
	failed := rows(3)[2]
	d = detail(failed)
	if failed.Action != storage.ActionConfigReloadFailed || d["digest"] != v2 || !strings.Contains(d["error"].(string), "tock.yaml:4") {
		t.Fatalf("failed reload row %+v", failed)
	}

	// The same bytes again record nothing.
	write(auditV2)
	r.reloader.Reload()
	r.reloader.Reload()
	if got := rows(4); len(got) != 4 || got[3].Action != storage.ActionConfigReload {
		t.Fatalf("after reverting and reloading twice: %+v", got)
	}
}
