package httpserver

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tock-sched/tock/internal/api"
)

// Defaults of the per-client rate limit.
const (
	DefaultRate  = 20
	DefaultBurst = 40
	// clientIdle is how long a client's bucket is kept after its last request.
	clientIdle = 10 * time.Minute
	// maxClients bounds the table; past it, idle clients are swept, and if
	// none is idle the table starts over (a full bucket for everyone is the
	// safe way to forget).
	maxClients = 50000
)

// limiter keeps a token bucket per client address.
type limiter struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(r rate.Limit, burst int, now func() time.Time) *limiter {
	return &limiter{rate: r, burst: burst, now: now, clients: map[string]*client{}}
}

// allow takes a token for key; when there is none it returns how long
// until there is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[key]
	if c == nil {
		if len(l.clients) >= maxClients {
			l.sweep(now)
		}
		c = &client{lim: rate.NewLimiter(l.rate, l.burst)}
		l.clients[key] = c
	}
	c.seen = now
	if c.lim.AllowN(now, 1) {
		return true, 0
	}
	res := c.lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	wait := res.DelayFrom(now)
	res.CancelAt(now)
	return false, wait
}

func (l *limiter) sweep(now time.Time) {
	for k, c := range l.clients {
		if now.Sub(c.seen) > clientIdle {
			delete(l.clients, k)
		}
	}
	if len(l.clients) >= maxClients {
		clear(l.clients)
	}
}

// clientKey identifies the client by its address: the IP for IPv4, the /64
// network for IPv6 (one host usually owns a whole /64). Forwarded-for
// headers are not trusted: any client could set them.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// rateLimit answers 429 with Retry-After once a client's bucket is empty;
// health probes are exempt so a busy client cannot make a replica look dead.
func (l *limiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		ok, wait := l.allow(clientKey(r))
		if !ok {
			secs := int(math.Ceil(wait.Seconds()))
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			api.WriteError(w, http.StatusTooManyRequests, "rate limit exceeded; retry after "+strconv.Itoa(secs)+"s")
			return
		}
		next.ServeHTTP(w, r)
	})
}
