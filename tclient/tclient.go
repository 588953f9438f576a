// Package tclient connects to Temporal the way server and worker both
// need: retrying with back-off while Temporal starts, and making sure the
// namespace has cmo's search attributes.
package tclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// Dial connects to Temporal, retrying with exponential back-off (capped at
// 10 s) until it answers a health check or ctx ends, so a worker started
// before Temporal waits instead of dying.
func Dial(ctx context.Context, opts client.Options, log *slog.Logger) (client.Client, error) {
	if opts.Logger == nil && log != nil {
		opts.Logger = tlog.NewStructuredLogger(log.With("component", "temporal-client"))
	}
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to temporal at %s: %w (last error: %v)", opts.HostPort, ctx.Err(), err)
		}
		if log != nil {
			log.Warn("temporal not reachable yet, retrying", "address", opts.HostPort, "attempt", attempt, "in", delay, "error", err)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to temporal at %s: %w (last error: %v)", opts.HostPort, ctx.Err(), err)
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// EnsureSearchAttributes adds the attributes in want that the namespace
// lacks. An attribute that exists with another type is an error: cmo would
// write values Temporal rejects.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) error {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		typ := want[name]
		got, ok := have.GetCustomAttributes()[name]
		if !ok {
			missing[name] = typ
			continue
		}
		if got != typ {
			return fmt.Errorf("search attribute %s exists in %s with type %s, cmo needs %s", name, namespace, got, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes to %s: %w", namespace, err)
	}
	return nil
}
