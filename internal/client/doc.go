// Package client is what tock's command line talks to: one Backend with two
// implementations that answer alike. Direct runs the API's operations
// (api.Service) in-process over a storage.Store, for `--store`; HTTP calls
// the REST API of a running replica, for `--server`. Both return the API's
// wire types and *api.Error values that keep the HTTP status, so a caller
// cannot tell them apart except by what they reach.
//
// It must not hold logic of its own about jobs, runs or the cluster: the
// Direct side delegates to api.Service and the HTTP side to the server, which
// runs the same Service. It prints nothing and reads no flags.
package client
