package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
)

// Bounds of a notification delivery.
const (
	// notifyBackoffMax caps the doubling pause between delivery attempts.
	notifyBackoffMax = time.Minute
	// notifyResponseMax is how much of a webhook's response body is read
	// (and discarded) so that the connection can be reused.
	notifyResponseMax = 64 << 10
)

// NotificationBody is the JSON document POSTed to notify.webhook for every
// alert change.
type NotificationBody struct {
	// Alert is "late" or "failures".
	Alert string `json:"alert"`
	Job   string `json:"job"`
	// State is "firing" or "resolved".
	State  string `json:"state"`
	Detail string `json:"detail"`
	// RunID is the run that decided the change; null when none did.
	RunID *int64 `json:"run_id"`
	// Node is the leader that saw the change.
	Node string `json:"node"`
	// At is when the leader saw it, RFC 3339 in UTC.
	At string `json:"at"`
}

// errPermanent marks a delivery failure that a retry cannot fix.
var errPermanent = errors.New("not retried")

// notification is one alert waiting for delivery, with the notify block in
// force when it was raised.
type notification struct {
	to    jobs.NotifyConfig
	alert Alert
}

type notifierOptions struct {
	Node    string
	Clock   clock.Clock
	Logger  *slog.Logger
	Size    int           // queue bound
	Backoff time.Duration // pause before the first retry; doubles
	Client  *http.Client  // default: a client of its own
}

// notifier delivers alert notifications to the webhook one at a time, in
// order, from a bounded queue: when the queue is full the oldest waiting
// notification is dropped (and logged), so a dead webhook never holds up
// the alert loop or grows memory. Each delivery is retried with
// exponential backoff on the injected clock. Its goroutine (run) belongs to
// the leader's alert loop and ends with the term; notifications still
// queued then are logged and dropped: the next leader re-announces alerts
// that still fire.
type notifier struct {
	opts notifierOptions
	log  *slog.Logger

	mu    sync.Mutex
	queue []notification
	ready chan struct{}

	// delivered, when set (tests), is called after each notification with
	// the attempts made and the last error (nil: delivered).
	delivered func(n notification, attempts int, err error)
}

func newNotifier(o notifierOptions) *notifier {
	if o.Client == nil {
		// No client-wide timeout: each attempt has the notify block's.
		o.Client = &http.Client{}
	}
	return &notifier{opts: o, log: o.Logger.With(slog.String("component", "notifier")), ready: make(chan struct{}, 1)}
}

// enqueue adds a notification without blocking, dropping the oldest
// waiting one when the queue is full.
func (n *notifier) enqueue(to jobs.NotifyConfig, a Alert) {
	n.mu.Lock()
	if len(n.queue) >= n.opts.Size {
		old := n.queue[0]
		n.queue = n.queue[1:]
		n.log.Warn("notification queue full; dropped the oldest notification",
			slog.String("job", old.alert.Job), slog.String("alert", string(old.alert.Kind)),
			slog.String("state", old.alert.State()), slog.Int("queue", n.opts.Size))
	}
	n.queue = append(n.queue, notification{to: to, alert: a})
	n.mu.Unlock()
	select {
	case n.ready <- struct{}{}:
	default:
	}
}

func (n *notifier) next() (notification, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) == 0 {
		return notification{}, false
	}
	it := n.queue[0]
	n.queue = n.queue[1:]
	return it, true
}

// run delivers queued notifications until ctx ends.
func (n *notifier) run(ctx context.Context) {
	for {
		it, ok := n.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-n.ready:
				continue
			}
		}
		if ctx.Err() != nil {
			n.mu.Lock()
			left := len(n.queue) + 1
			n.queue = nil
			n.mu.Unlock()
			n.log.Warn("leadership ended; notifications not delivered", slog.Int("notifications", left))
			return
		}
		n.deliver(ctx, it)
	}
}

// deliver makes up to 1+retries attempts, pausing between them.
func (n *notifier) deliver(ctx context.Context, it notification) {
	a := it.alert
	log := n.log.With(slog.String("job", a.Job), slog.String("alert", string(a.Kind)),
		slog.String("state", a.State()), slog.String("webhook", webhookHost(it.to.Webhook)))
	body, err := json.Marshal(n.body(a))
	if err != nil {
		// A struct of strings always marshals; this guards a future field.
		log.Error("encoding notification", slog.Any("error", err))
		return
	}
	attempts := 1 + it.to.Retries
	var attempt int
	for attempt = 1; attempt <= attempts; attempt++ {
		if err = n.post(ctx, it.to, body); err == nil {
			log.Debug("notification delivered", slog.Int("attempt", attempt))
			break
		}
		if ctx.Err() != nil {
			log.Warn("leadership ended while delivering a notification", slog.Int("attempt", attempt), slog.Any("error", err))
			return
		}
		if errors.Is(err, errPermanent) || attempt == attempts {
			break
		}
		wait := jobs.Backoff(n.opts.Backoff, notifyBackoffMax, attempt+1)
		log.Warn("delivering notification; will retry", slog.Int("attempt", attempt), slog.Int("attempts", attempts),
			slog.Duration("retry_in", wait), slog.Any("error", err))
		if !clock.Sleep(ctx, n.opts.Clock, wait) {
			log.Warn("leadership ended while retrying a notification", slog.Int("attempt", attempt))
			return
		}
	}
	if err != nil {
		log.Error("giving up delivering notification", slog.Int("attempts", min(attempt, attempts)), slog.Any("error", err))
	}
	if n.delivered != nil {
		n.delivered(it, min(attempt, attempts), err)
	}
}

func (n *notifier) body(a Alert) NotificationBody {
	b := NotificationBody{Alert: string(a.Kind), Job: a.Job, State: a.State(), Detail: a.Detail,
		Node: n.opts.Node, At: a.At.UTC().Format(time.RFC3339)}
	if a.RunID != 0 {
		id := a.RunID
		b.RunID = &id
	}
	return b
}

// post makes one delivery attempt. A 2xx answer delivers; 408, 429 and
// 5xx answers and transport errors are retried; other answers are
// permanent (errPermanent).
func (n *notifier) post(ctx context.Context, to jobs.NotifyConfig, body []byte) error {
	timeout := to.Timeout
	if timeout <= 0 {
		timeout = jobs.DefaultNotifyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to.Webhook, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building webhook request: %w (%w)", err, errPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tock-notifier")
	for k, v := range to.Headers {
		req.Header.Set(k, v)
	}
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		// The URL may hold a secret (many webhooks put their token in the
		// path): keep it out of the error, which is logged.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("posting to webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, notifyResponseMax))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
		return fmt.Errorf("webhook answered %s", resp.Status)
	default:
		return fmt.Errorf("webhook answered %s (%w)", resp.Status, errPermanent)
	}
}

// webhookHost names a webhook in logs by scheme and host only: its user
// info, path and query may hold a secret.
func webhookHost(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid url)"
	}
	return u.Scheme + "://" + u.Host
}
