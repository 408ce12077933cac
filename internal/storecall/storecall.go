package storecall

import (
	"context"
	"time"
)

// Do calls f with a context that ends after timeout, or earlier with ctx,
// and returns what f returns.
func Do[T any](ctx context.Context, timeout time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f(ctx)
}

// Exec is Do for a call that returns only an error.
func Exec(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f(ctx)
}
