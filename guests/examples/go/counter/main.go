// Command counter counts visits in the key-value store "default": GET /counter adds one to the
// count named by ?name= (default "visits") and answers the new count; DELETE /counter resets it.
//
// The manifest grants the store (on Lambda and Azure: EDGEFN_KV_STORES=default; on Workers a KV
// namespace bound as EDGEFN_KV_DEFAULT, see docs/kv.md):
//
//	[[function]]
//	name = "go-counter"
//	wasm = "target/guests/go-counter.wasm"
//	kv = { stores = ["default"] }
//
// The read and the write are two calls, and the last writer wins: two requests at the same
// moment may count once (the contract has no increment; Workers KV has none).
package main

import (
	"errors"
	"strconv"

	"github.com/edgefn-dev/edgefn/sdk/go"
	"github.com/edgefn-dev/edgefn/sdk/go/edgekv"
)

// A reactor's main never runs; package initialization does, so the handler is registered here.
// The store is opened per request: calls from init are unsupported.
func init() { edgefn.Handle(handle) }

func handle(req *edgefn.Request, _ *edgefn.Context) (*edgefn.Response, error) {
	name, ok := req.QueryParam("name")
	if !ok || name == "" {
		name = "visits"
	}
	store, err := edgekv.Open("default")
	if err != nil {
		return nil, err
	}
	key := "counter/" + name
	switch req.Method {
	case "GET":
		count, err := increment(store, key)
		if err != nil {
			return failed(err)
		}
		return edgefn.Text(strconv.FormatUint(count, 10) + "\n"), nil
	case "DELETE":
		if err := store.Delete(key); err != nil {
			return failed(err)
		}
		return edgefn.Text("0\n"), nil
	}
	return edgefn.Status(405).WithHeader("allow", "GET, DELETE"), nil
}

// increment reads the count (0 when absent or unreadable), adds one and writes it back.
func increment(store *edgekv.Store, key string) (uint64, error) {
	value, _, err := store.Get(key)
	if err != nil {
		return 0, err
	}
	count, _ := strconv.ParseUint(string(value), 10, 64)
	count++
	return count, store.Set(key, []byte(strconv.FormatUint(count, 10)))
}

// failed answers a store error: 503 when trying again may help, else 500; the detail goes to
// the log.
func failed(err error) (*edgefn.Response, error) {
	var kvErr *edgekv.Error
	if errors.As(err, &kvErr) && (kvErr.Kind == edgekv.RateLimited || kvErr.Kind == edgekv.Unavailable ||
		kvErr.Kind == edgekv.Timeout) {
		println("counter:", err.Error())
		return edgefn.Text("the store is busy: try again\n").WithStatus(503), nil
	}
	return nil, err
}

func main() {}
