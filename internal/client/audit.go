package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tock-sched/tock/internal/api"
)

// AuditQuery selects audit rows in the terms of GET /api/v1/audit; empty
// fields are absent.
type AuditQuery struct {
	// Since is a duration before now (24h, 7d) or an RFC 3339 time.
	Since string
	// Cursor is a page's NextCursor: the next page holds older rows.
	Cursor string
	// Limit is the page size, 1 to storage.MaxAuditLimit; 0 means the
	// default.
	Limit int
}

// Values returns q as the query of GET /api/v1/audit.
func (q AuditQuery) Values() url.Values {
	v := url.Values{}
	if q.Since != "" {
		v.Set("since", q.Since)
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Audit returns one page of the audit trail.
func (s *Direct) Audit(ctx context.Context, q AuditQuery) (api.AuditPage, error) {
	f, err := api.ParseAuditQuery(q.Values(), s.svc.Now())
	if err != nil {
		return api.AuditPage{}, err
	}
	p, err := s.svc.Audit(ctx, f)
	return p, local(err)
}

// Audit calls GET /audit.
func (c *HTTP) Audit(ctx context.Context, q AuditQuery) (api.AuditPage, error) {
	var p api.AuditPage
	err := c.call(ctx, http.MethodGet, "/audit", q.Values(), nil, &p)
	return p, err
}
