package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tock-sched/tock/storage"
)

// AuditQueryParams are the query parameters GET /api/v1/audit accepts.
var AuditQueryParams = []string{"since", "cursor", "limit"}

// AuditPage is one page of the audit trail, newest first.
type AuditPage struct {
	Entries []storage.AuditEntry `json:"entries"`
	// NextCursor fetches the next (older) page; empty on the last page. A
	// full page may be followed by an empty one.
	NextCursor string `json:"next_cursor"`
}

// ParseAuditQuery validates the query of GET /api/v1/audit: since (a
// duration before now or an RFC 3339 time), cursor (a page's NextCursor)
// and limit (1 to storage.MaxAuditLimit, default storage.DefaultAuditLimit).
// Errors name the parameter.
func ParseAuditQuery(q url.Values, now time.Time) (storage.AuditFilter, error) {
	f := storage.AuditFilter{Limit: storage.DefaultAuditLimit}
	for k, v := range q {
		if !slices.Contains(AuditQueryParams, k) {
			return f, paramError(k, "unknown parameter (want %s)", strings.Join(AuditQueryParams, ", "))
		}
		if len(v) > 1 {
			return f, paramError(k, "given %d times; give it once", len(v))
		}
	}
	var err error
	if f.Since, err = parseWhen("since", q.Get("since"), now); err != nil {
		return f, err
	}
	if s := q.Get("cursor"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return f, paramError("cursor", "%s is not a cursor of this listing (want a page's next_cursor)", quote(s))
		}
		f.BeforeID = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > storage.MaxAuditLimit {
			return f, paramError("limit", "%s is out of range (want 1 to %d)", quote(s), storage.MaxAuditLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// Audit lists the audit trail matching f, newest first.
func (s *Service) Audit(ctx context.Context, f storage.AuditFilter) (AuditPage, error) {
	if f.Limit < 1 || f.Limit > storage.MaxAuditLimit {
		return AuditPage{}, paramError("limit", "%d is out of range (want 1 to %d)", f.Limit, storage.MaxAuditLimit)
	}
	rows, err := call(ctx, s, "list_audit", func(ctx context.Context) ([]storage.AuditEntry, error) {
		return s.opts.Store.ListAudit(ctx, f)
	})
	if err != nil {
		return AuditPage{}, err
	}
	if rows == nil {
		rows = []storage.AuditEntry{}
	}
	p := AuditPage{Entries: rows}
	if len(rows) == f.Limit {
		p.NextCursor = strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	return p, nil
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
	f, err := ParseAuditQuery(r.URL.Query(), a.svc.Now())
	if err != nil {
		a.fail(w, err)
		return
	}
	p, err := a.svc.Audit(r.Context(), f)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}
