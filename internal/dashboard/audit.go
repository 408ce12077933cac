package dashboard

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/storage"
)

// auditRow is an audit row with a link to its target.
type auditRow struct {
	storage.AuditEntry
	Href string
}

type auditData struct {
	Query url.Values
	Rows  []auditRow
	Next  string
	Paged bool
	Error string
}

// targetHref links job/NAME and run/ID to their pages; backfills have
// none.
func targetHref(target string) string {
	kind, id, _ := strings.Cut(target, "/")
	switch kind {
	case "job":
		return "/jobs/" + url.PathEscape(id)
	case "run":
		return "/runs/" + url.PathEscape(id)
	}
	return ""
}

// auditPage lists the audit trail, newest first, paged by keyset.
func (d *Dashboard) auditPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := auditData{Query: q, Paged: q.Get("cursor") != ""}
	f, err := api.ParseAuditQuery(withoutEmpty(q), d.now())
	if err != nil {
		data.Error = err.Error()
		d.render(w, http.StatusBadRequest, "audit", d.newPage(w, r, "Audit", "audit", data))
		return
	}
	p, err := d.svc.Audit(r.Context(), f)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	for _, e := range p.Entries {
		data.Rows = append(data.Rows, auditRow{AuditEntry: e, Href: targetHref(e.Target)})
	}
	if p.NextCursor != "" {
		next := withoutEmpty(q)
		next.Set("cursor", p.NextCursor)
		data.Next = "/audit?" + next.Encode()
	}
	d.render(w, http.StatusOK, "audit", d.newPage(w, r, "Audit", "audit", data))
}
