package nethttp

import (
	"context"
	"net/http"
	"os"

	"github.com/edgefn-dev/edgefn/sdk/go"
)

// Serve registers h as the function's handler (edgefn.Handle with Adapt(h)). Call it from an init
// function of package main.
func Serve(h http.Handler) {
	edgefn.Handle(Adapt(h))
}

// Adapt turns h into an edgefn handler: the request becomes an *http.Request, and what h writes
// becomes the response. A panic in h is left to the SDK, which answers 500.
func Adapt(h http.Handler) edgefn.HandlerFunc {
	if h == nil {
		panic("nethttp.Adapt: nil handler")
	}
	return func(req *edgefn.Request, ec *edgefn.Context) (*edgefn.Response, error) {
		ctx, cancel := context.WithDeadline(NewContext(context.Background(), ec), ec.Deadline)
		// As with a net/http server, the request's context ends when the handler returns.
		defer cancel()
		r, bad := newRequest(ctx, req)
		if bad != "" {
			logLine("nethttp: answering 400 without calling the handler: " + bad)
			return edgefn.Status(http.StatusBadRequest), nil
		}
		w := newResponseWriter()
		h.ServeHTTP(w, r)
		return w.response()
	}
}

type contextKey struct{}

// NewContext returns a copy of parent that carries ec, for FromContext. Serve does this for every
// request; tests use it to give an httptest request an edgefn context:
//
//	r := httptest.NewRequest("GET", "/items/7", nil)
//	r = r.WithContext(nethttp.NewContext(r.Context(), edgefn.NewTestContext()))
func NewContext(parent context.Context, ec *edgefn.Context) context.Context {
	return context.WithValue(parent, contextKey{}, ec)
}

// FromContext returns the edgefn context of the invocation a request's context belongs to
// (r.Context()): request id, function name, platform, deadline, cold start, traceparent and the
// function's variables. It reports false for a context that has none, such as an httptest
// request's.
func FromContext(ctx context.Context) (*edgefn.Context, bool) {
	ec, ok := ctx.Value(contextKey{}).(*edgefn.Context)
	return ec, ok && ec != nil
}

func logLine(s string) {
	_, _ = os.Stderr.WriteString(s + "\n")
}
