package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/clock"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes      = 64 << 10
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultShutdownTimeout   = 5 * time.Second
	maxHeaderBytes           = 64 << 10
)

// Options configure the server. API is required; Metrics and Dashboard are
// served when set.
type Options struct {
	// Addr is the listen address, e.g. 127.0.0.1:8080 (port 0 picks one).
	Addr string
	// API serves /api/v1/…, /healthz and /readyz.
	API http.Handler
	// Metrics serves /metrics; with Auth.ReadToken set it needs a token
	// like any read.
	Metrics http.Handler
	// Dashboard serves everything else.
	Dashboard http.Handler
	// Pprof serves net/http/pprof under /debug/pprof/, guarded like
	// /metrics (tock run --debug-pprof).
	Pprof bool
	// Auth guards /metrics (the API and dashboard check their own routes).
	Auth   api.Auth
	Logger *slog.Logger // default slog.Default()
	Clock  clock.Clock  // default clock.Real; drives the rate limit

	// Rate and Burst are the per-client request rate limit. Default 20/s,
	// burst 40; a negative Rate disables the limit.
	Rate  rate.Limit
	Burst int
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 64 KiB.
	MaxBodyBytes int64

	// Server timeouts. Defaults: read header 5s, read 15s, write 30s, idle 2m.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds Stop's wait for requests in flight. Default 5s.
	ShutdownTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
}

// Handler assembles the routes and the shared protections.
func Handler(o Options) (http.Handler, error) {
	o.setDefaults()
	if o.API == nil {
		return nil, errors.New("httpserver: Options.API is nil")
	}
	if err := o.Auth.Check(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(api.Prefix+"/", o.API)
	mux.Handle("/healthz", o.API)
	mux.Handle("/readyz", o.API)
	if o.Metrics != nil {
		mux.Handle("GET /metrics", guardRead(o.Auth, o.Metrics))
	}
	if o.Pprof {
		mux.Handle("GET /debug/pprof/", guardRead(o.Auth, http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/cmdline", guardRead(o.Auth, http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("GET /debug/pprof/profile", guardRead(o.Auth, http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/symbol", guardRead(o.Auth, http.HandlerFunc(pprof.Symbol)))
		mux.Handle("GET /debug/pprof/trace", guardRead(o.Auth, http.HandlerFunc(pprof.Trace)))
	}
	if o.Dashboard != nil {
		mux.Handle("/", o.Dashboard)
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			api.WriteError(w, http.StatusNotFound, "not found; the API is under "+api.Prefix)
		})
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		api.WriteError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	var h http.Handler = cop.Handler(mux)
	h = limitBody(o.MaxBodyBytes, h)
	if o.Rate > 0 {
		h = newLimiter(o.Rate, o.Burst, o.Clock.Now).middleware(h)
	}
	h = accessLog(o.Logger, o.Clock, h)
	h = recoverPanics(o.Logger, h)
	return h, nil
}

// guardRead asks for a read or API token when a read token is configured.
func guardRead(a api.Auth, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		need := a.Need(false)
		if need != api.AccessNone && a.Grant(api.BearerToken(r)) < need {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tock"`)
			api.WriteError(w, http.StatusUnauthorized, "this call needs a bearer token: Authorization: Bearer <token>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody refuses a declared oversized body at once and caps the reading
// of any other.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			w.Header().Set("Connection", "close")
			api.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large (at most %d bytes)", max))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status code for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs each request at debug level, and refusals and server
// errors at info and warn, with the client's address.
func accessLog(log *slog.Logger, clk clock.Clock, next http.Handler) http.Handler {
	log = log.With(slog.String("component", "http"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := clk.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		lvl := slog.LevelDebug
		switch {
		case r.URL.Path == "/readyz" || r.URL.Path == "/healthz":
			// Probes repeat every few seconds; /readyz explains itself.
		case sw.status >= 500:
			lvl = slog.LevelWarn
		case sw.status == http.StatusUnauthorized || sw.status == http.StatusForbidden || sw.status == http.StatusTooManyRequests:
			lvl = slog.LevelInfo
		}
		if !log.Enabled(r.Context(), lvl) {
			return
		}
		log.Log(r.Context(), lvl, "http request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", clk.Now().Sub(start)), slog.String("remote", r.RemoteAddr))
	})
}

// recoverPanics turns a handler panic into a logged 500.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("http handler panicked", slog.String("component", "http"), slog.String("path", r.URL.Path),
					slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				api.WriteError(w, http.StatusInternalServerError, "internal error (see the server log)")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Server is the HTTP server of a replica.
type Server struct {
	opts Options
	srv  *http.Server

	mu      sync.Mutex
	ln      net.Listener
	done    chan struct{}
	stopped bool
}

// New returns a Server; Start listens.
func New(o Options) (*Server, error) {
	o.setDefaults()
	h, err := Handler(o)
	if err != nil {
		return nil, err
	}
	errLog := slog.NewLogLogger(o.Logger.With(slog.String("component", "http")).Handler(), slog.LevelWarn)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errLog,
	}
	for _, h := range []http.Handler{o.API, o.Dashboard} {
		if s, ok := h.(interface{ CloseStreams() }); ok {
			// A log stream lasts as long as its attempt: end it rather
			// than wait for it at shutdown.
			srv.RegisterOnShutdown(s.CloseStreams)
		}
	}
	return &Server{opts: o, srv: srv}, nil
}

// HTTPServer returns the underlying server (its timeouts, for tests).
func (s *Server) HTTPServer() *http.Server { return s.srv }

// Start listens on Options.Addr and serves until Stop; it returns once the
// address is bound, or with the error binding it.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil || s.stopped {
		return errors.New("httpserver: already started")
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	s.done = make(chan struct{})
	s.srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error("http server stopped", slog.String("component", "http"), slog.Any("error", err))
		}
	}()
	s.opts.Logger.Info("http server listening", slog.String("component", "http"), slog.String("addr", ln.Addr().String()))
	if !isLoopback(ln.Addr()) && !s.opts.Auth.Enabled() {
		s.opts.Logger.Warn("the API and dashboard listen beyond loopback without --api-token: anyone who reaches "+
			ln.Addr().String()+" can trigger, pause and cancel jobs", slog.String("component", "http"))
	}
	return nil
}

// Addr returns the bound address, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop stops accepting, lets requests in flight finish within the shutdown
// timeout, then closes what is left, and waits for the serve loop. It is
// idempotent and safe without Start.
func (s *Server) Stop() {
	s.mu.Lock()
	s.stopped = true
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-done
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
