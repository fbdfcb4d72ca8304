// Command fetch calls out over HTTP: it GETs the JSON object at its UPSTREAM_URL variable through
// the edgefn host (edgehttp.Transport under a plain http.Client) and answers what it found: the
// object's keys, sorted, and each one's JSON type. A failed call answers 502 with the error's
// kind ("denied", "timeout", ...); the detail goes to the log, not to the client.
//
// The function must be granted the upstream, e.g. in the manifest:
//
//	env = { UPSTREAM_URL = "https://api.example.com/item.json" }
//	outbound = { allowed_hosts = ["https://api.example.com"] }
package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/edgefn-dev/edgefn/sdk/go"
	"github.com/edgefn-dev/edgefn/sdk/go/edgehttp"
)

func init() { edgefn.Handle(handle) }

// client sends through the host; tests point it at a loopback server instead.
var client = &http.Client{Transport: edgehttp.Transport}

// The call gives up this long before the invocation's deadline, so the function still has time to
// answer 502 rather than be stopped with a 504.
const deadlineMargin = 100 * time.Millisecond

// summary is the answer: where the object came from and its shape.
type summary struct {
	Source string            `json:"source"`
	Status int               `json:"status"`
	Keys   []string          `json:"keys"`
	Types  map[string]string `json:"types"`
}

func handle(_ *edgefn.Request, ctx *edgefn.Context) (*edgefn.Response, error) {
	upstream := ctx.Var("UPSTREAM_URL")
	if upstream == "" {
		return nil, errors.New("UPSTREAM_URL is not set: give the function env = { UPSTREAM_URL = \"https://...\" } in the manifest")
	}
	callCtx, cancel := context.WithDeadline(context.Background(), ctx.Deadline.Add(-deadlineMargin))
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodGet, upstream, nil)
	if err != nil {
		return nil, errors.New("UPSTREAM_URL " + strconv.Quote(upstream) + " is not a URL: " + err.Error())
	}
	req.Header.Set("Accept", "application/json")

	resp, err := client.Do(req)
	if err != nil {
		return failure(kindOf(err), err.Error())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return failure("upstream-status", "GET "+upstream+" answered "+resp.Status)
	}
	var object map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&object); err != nil {
		return failure("upstream-json", "GET "+upstream+" did not answer a JSON object: "+err.Error())
	}

	out := summary{Source: upstream, Status: resp.StatusCode, Keys: make([]string, 0, len(object)), Types: map[string]string{}}
	for key, value := range object {
		out.Keys = append(out.Keys, key)
		out.Types[key] = jsonType(value)
	}
	slices.Sort(out.Keys)
	return edgefn.JSON(json.Marshal(out))
}

// kindOf names why a call failed: the host's kind, or timeout when the call's own deadline passed
// before the host was asked.
func kindOf(err error) string {
	var herr *edgehttp.Error
	switch {
	case errors.As(err, &herr):
		return string(herr.Kind)
	case errors.Is(err, context.DeadlineExceeded):
		return string(edgehttp.Timeout)
	}
	return "error"
}

// failure logs the detail and answers 502 with only the kind.
func failure(kind, detail string) (*edgefn.Response, error) {
	_, _ = os.Stderr.WriteString("fetch: " + kind + ": " + detail + "\n")
	body, err := json.Marshal(map[string]string{"error": kind})
	resp, err := edgefn.JSON(body, err)
	if resp != nil {
		resp.Status = http.StatusBadGateway
	}
	return resp, err
}

// jsonType is the JSON type name of a value encoding/json decoded.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

func main() {}
