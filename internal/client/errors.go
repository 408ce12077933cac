package client

import "errors"

// Causes of HTTP errors beyond those the API itself uses (api.ErrBadParam,
// api.ErrUnknownJob, storage.ErrNotFound, storage.ErrConflict); find them
// with errors.Is.
var (
	// ErrUnauthorized: the server wants a bearer token, or a valid one (401).
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrForbidden: the token may not make this call, e.g. the read-only
	// token asked for a change (403).
	ErrForbidden = errors.New("client: forbidden")
	// ErrRateLimited: the server's per-client rate limit refused the call
	// (429).
	ErrRateLimited = errors.New("client: rate limited")
	// ErrServer: the server failed to answer the call (5xx).
	ErrServer = errors.New("client: server error")
	// ErrRefused: the server refused the call for another reason (other
	// 4xx, e.g. 405 or 413).
	ErrRefused = errors.New("client: request refused")
	// ErrNotAPI: the answer is not one of tock's API, e.g. an HTML page of
	// a proxy or another web server at --server.
	ErrNotAPI = errors.New("client: not a tock API answer")
	// ErrNoConfig: a Direct was asked about jobs without a config.
	ErrNoConfig = errors.New("client: no job config")
)
