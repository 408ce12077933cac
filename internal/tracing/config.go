package tracing

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Exporters (OTEL_TRACES_EXPORTER).
const (
	ExporterOTLP    = "otlp"
	ExporterConsole = "console"
	ExporterNone    = "none"
)

// DefaultServiceName is the service.name of tock's spans unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names another.
const DefaultServiceName = "tock"

// defaultEndpoint is the OTLP/HTTP endpoint of the specification, used
// when OTEL_TRACES_EXPORTER=otlp names no endpoint.
const defaultEndpoint = "http://localhost:4318"

// tracesPath is appended to OTEL_EXPORTER_OTLP_ENDPOINT (not to the
// traces-specific endpoint, which is used as given).
const tracesPath = "/v1/traces"

// config is what the OTEL_* variables ask for.
type config struct {
	exporter string // "" when tracing is off
	endpoint string // the full URL spans are POSTed to (otlp)
	timeout  time.Duration
	sampler  sdktrace.Sampler
	service  string
	attrs    []attribute.KeyValue
}

// parse reads the OTEL_* variables through getenv. Tracing is on when
// OTEL_TRACES_EXPORTER is otlp or console, or when it is unset and an
// OTLP endpoint is set; OTEL_SDK_DISABLED=true turns it off.
func parse(getenv func(string) string) (config, error) {
	var c config
	disabled := strings.ToLower(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")))
	switch disabled {
	case "", "false":
	case "true":
		return c, nil
	default:
		return c, fmt.Errorf("OTEL_SDK_DISABLED=%q: want true or false", getenv("OTEL_SDK_DISABLED"))
	}
	tracesEndpoint := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	endpoint := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	switch exp := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); exp {
	case "":
		if tracesEndpoint == "" && endpoint == "" {
			return c, nil
		}
		c.exporter = ExporterOTLP
	case ExporterOTLP, ExporterConsole:
		c.exporter = exp
	case ExporterNone:
		return c, nil
	default:
		return c, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp, console or none (one exporter)", getenv("OTEL_TRACES_EXPORTER"))
	}
	if c.exporter == ExporterOTLP {
		if err := checkProtocol(getenv); err != nil {
			return c, err
		}
		var err error
		switch {
		case tracesEndpoint != "":
			c.endpoint, err = endpointURL("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", tracesEndpoint, "")
		case endpoint != "":
			c.endpoint, err = endpointURL("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint, tracesPath)
		default:
			c.endpoint = defaultEndpoint + tracesPath
		}
		if err != nil {
			return c, err
		}
		if c.timeout, err = timeout(getenv); err != nil {
			return c, err
		}
	}
	var err error
	if c.sampler, err = sampler(getenv); err != nil {
		return c, err
	}
	if c.attrs, err = resourceAttrs(getenv("OTEL_RESOURCE_ATTRIBUTES")); err != nil {
		return c, err
	}
	c.service = DefaultServiceName
	for _, a := range c.attrs {
		if a.Key == "service.name" {
			c.service = a.Value.AsString()
		}
	}
	if s := strings.TrimSpace(getenv("OTEL_SERVICE_NAME")); s != "" {
		c.service = s
	}
	return c, nil
}

// checkProtocol refuses an OTLP protocol other than http/protobuf.
func checkProtocol(getenv func(string) string) error {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		switch p := strings.TrimSpace(getenv(name)); p {
		case "":
			continue
		case "http/protobuf":
			return nil
		default:
			return fmt.Errorf("%s=%q: tock exports OTLP over HTTP only; want http/protobuf", name, p)
		}
	}
	return nil
}

// endpointURL checks an OTLP endpoint variable and returns the URL spans
// go to: raw, with path appended to its own path when path is set.
func endpointURL(name, raw, path string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%s=%q: %w", name, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("%s=%q: want an http:// or https:// URL with a host, e.g. http://jaeger:4318", name, raw)
	}
	if path != "" {
		u.Path = strings.TrimSuffix(u.Path, "/") + path
	}
	return u.String(), nil
}

// timeout reads the export timeout in milliseconds; 0 leaves the
// exporter's default (10s).
func timeout(getenv func(string) string) (time.Duration, error) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"} {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return 0, fmt.Errorf("%s=%q: want a positive number of milliseconds", name, v)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	return 0, nil
}

// sampler reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG; the
// default is parentbased_always_on.
func sampler(getenv func(string) string) (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")))
	ratio := 1.0
	if arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG")); arg != "" && strings.HasSuffix(name, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", arg)
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
		getenv("OTEL_TRACES_SAMPLER"))
}

// resourceAttrs parses OTEL_RESOURCE_ATTRIBUTES: key=value pairs separated
// by commas, values percent-encoded.
func resourceAttrs(raw string) ([]attribute.KeyValue, error) {
	var attrs []attribute.KeyValue
	for _, pair := range strings.Split(raw, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %q: want key=value", pair)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %q: %w", pair, err)
		}
		attrs = append(attrs, attribute.String(k, val))
	}
	return attrs, nil
}
