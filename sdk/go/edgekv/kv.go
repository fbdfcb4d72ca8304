// Package edgekv is the key-value store of an edgefn function: named stores of byte values under
// text keys, the same on every platform (the local host's file, DynamoDB on AWS Lambda, Table
// storage on Azure Functions, Workers KV on Cloudflare). docs/kv.md states the contract.
//
//	store, err := edgekv.Open("default")
//	if err != nil { ... }
//	if err := store.Set("greeting", []byte("hello")); err != nil { ... }
//	value, found, err := store.Get("greeting")
//
// A function opens only the stores its configuration grants (the manifest's kv.stores, on Lambda
// and Azure the EDGEFN_KV_STORES variable, on Workers a KV namespace binding per store); a store
// name is the application's, shared by every function granted it.
//
// What holds on every platform: keys of 1-512 bytes of UTF-8 (not "." or ".."), values of at
// most 256 KiB, a time to live of at least 60 s, expired keys never returned, the last writer
// wins, listings in ascending byte order a page at a time. The local store is strongly
// consistent; Workers KV is eventually consistent. Each call counts against kv.max_operations
// per invocation and waits at most until the invocation's deadline. Calls from init (package
// variables, func init) fail with Unsupported: open the store in the handler.
//
// Every call blocks until the backend answers. A function that does not import edgekv imports
// nothing of it from edgefn_v1. In a native build (go test) calls are Unsupported unless a test
// installs the in-memory store with UseMemory.
package edgekv

import (
	"iter"
	"math"
	"strconv"
	"time"

	"github.com/edgefn-dev/edgefn/sdk/go/internal/abi"
	"github.com/edgefn-dev/edgefn/sdk/go/internal/hostcall"
)

// Kind is why a call failed, by the name docs/abi.md gives its error code.
type Kind string

// The kinds of error a store call reports; the same on every platform for the same cause. A
// missing key is not an error: Get answers found == false, Exists false.
const (
	// Denied: the store is not granted to this function.
	Denied Kind = "denied"
	// Invalid: the call breaks a rule of the contract (store name, key, value size, TTL, page
	// size, cursor); the message names it.
	Invalid Kind = "invalid"
	// Limit: past kv.max_operations calls in this invocation.
	Limit Kind = "limit"
	// Timeout: no answer before the invocation's deadline.
	Timeout Kind = "timeout"
	// Unavailable: the backend cannot be reached, fails, or refuses the host's credentials.
	Unavailable Kind = "unavailable"
	// RateLimited: the backend throttled the call (Workers KV allows one write per second per
	// key): try again later.
	RateLimited Kind = "rate-limited"
	// Unsupported: called while the module initializes, or natively without UseMemory.
	Unsupported Kind = "unsupported"
	// Unknown: an error code this SDK version does not know, or an answer it could not read.
	Unknown Kind = "unknown"
)

// Error is a store call that failed.
type Error struct {
	// Kind is the class of failure.
	Kind Kind
	// Code is the import's error code (-1 denied ... -8 unsupported), or 0 when the SDK found the
	// error itself.
	Code int
	// Message is the host's explanation (or the SDK's), meant for logs.
	Message string
}

func (e *Error) Error() string { return "edgefn key-value " + string(e.Kind) + ": " + e.Message }

// Timeout reports whether the call ran out of time.
func (e *Error) Timeout() bool { return e.Kind == Timeout }

func hostError(code int64, message []byte) *Error {
	kind := Unknown
	switch code {
	case abi.CodeDenied:
		kind = Denied
	case abi.CodeInvalid:
		kind = Invalid
	case abi.CodeLimit:
		kind = Limit
	case abi.CodeTimeout:
		kind = Timeout
	case abi.CodeUnavailable:
		kind = Unavailable
	case abi.CodeRateLimited:
		kind = RateLimited
	case abi.CodeUnsupported:
		kind = Unsupported
	}
	if kind == Unknown {
		message = append([]byte("code "+strconv.FormatInt(code, 10)+": "), message...)
	}
	return &Error{Kind: kind, Code: int(code), Message: string(message)}
}

func broken(what string) *Error {
	return &Error{Kind: Unknown, Message: "the host broke the " + abi.ImportModule + " contract (docs/abi.md): " +
		what + "; report it with the edgefn version"}
}

// Store is a named store. Open checks the name only; whether the function is granted the store
// is checked by the host at each call (Denied).
type Store struct{ name string }

// Open returns the store name: 1-32 lower-case ASCII letters, digits and _, starting with a
// letter (Invalid otherwise).
func Open(name string) (*Store, error) {
	if err := abi.CheckStoreName(name); err != nil {
		return nil, &Error{Kind: Invalid, Message: err.Error()}
	}
	return &Store{name}, nil
}

// Name is the store's name.
func (s *Store) Name() string { return s.name }

// call runs one import and reads its pending result: the result on success, found == false on
// not-found, or the error.
func call(do func(h host) int64) (result []byte, found bool, err error) {
	hostcall.Mu.Lock()
	defer hostcall.Mu.Unlock()
	h := imports
	code := do(h)
	switch {
	case code == abi.CodeNotFound:
		return nil, false, nil
	case code < 0:
		return nil, false, hostError(code, hostcall.Message(h.read))
	}
	buf, why := hostcall.Result(h.read, code)
	if why != "" {
		return nil, false, broken(why)
	}
	return buf, true, nil
}

// noNotFound turns a not-found where it is not an answer into an error.
func noNotFound(found bool, err error, what string) error {
	if err == nil && !found {
		return broken(what + " answered not-found")
	}
	return err
}

// Get returns the value of key; found is false when the key is absent or has expired.
func (s *Store) Get(key string) (value []byte, found bool, err error) {
	return call(func(h host) int64 { return h.get(s.name, key) })
}

// Set stores value under key, replacing any value it had, with no expiry.
func (s *Store) Set(key string, value []byte) error {
	_, found, err := call(func(h host) int64 { return h.set(s.name, key, value, 0) })
	return noNotFound(found, err, "kv_set")
}

// SetWithTTL stores value under key, expiring after ttl (at least 60 s, rounded up to whole
// seconds; a shorter one is Invalid).
func (s *Store) SetWithTTL(key string, value []byte, ttl time.Duration) error {
	seconds := uint32(1)
	if ttl > 0 {
		whole := (ttl + time.Second - 1) / time.Second
		seconds = uint32(min(int64(whole), math.MaxUint32))
	}
	_, found, err := call(func(h host) int64 { return h.set(s.name, key, value, seconds) })
	return noNotFound(found, err, "kv_set")
}

// Delete removes key; removing an absent key succeeds.
func (s *Store) Delete(key string) error {
	_, found, err := call(func(h host) int64 { return h.delete(s.name, key) })
	return noNotFound(found, err, "kv_delete")
}

// Exists reports whether key is present and has not expired, without reading its value.
func (s *Store) Exists(key string) (bool, error) {
	_, found, err := call(func(h host) int64 { return h.exists(s.name, key) })
	return found && err == nil, err
}

// Page is one page of keys.
type Page struct {
	// Keys in ascending order of their bytes; possibly fewer than asked for, even none.
	Keys []string
	// Cursor is where the next page starts, to pass back to List; empty on the last page.
	Cursor string
}

// List returns one page of up to limit keys (1-1000; 0 asks for 1000) starting with prefix,
// after cursor ("" for the first page, else the previous page's Cursor as it came). A page may
// be short, even empty, and still have a Cursor: only an empty Cursor ends a listing.
func (s *Store) List(prefix, cursor string, limit int) (Page, error) {
	if limit < 0 || limit > math.MaxUint32 {
		return Page{}, &Error{Kind: Invalid, Message: "a page of " + strconv.Itoa(limit) +
			" keys is not possible: ask for 1-1000, or 0 for 1000"}
	}
	buf, found, err := call(func(h host) int64 { return h.list(s.name, prefix, cursor, uint32(limit)) })
	if err = noNotFound(found, err, "kv_list"); err != nil {
		return Page{}, err
	}
	page, derr := abi.DecodeKVListPage(buf)
	if derr != nil {
		return Page{}, broken("its list page does not decode: " + derr.Error())
	}
	return Page{Keys: page.Keys, Cursor: page.Cursor}, nil
}

// All yields every key starting with prefix in ascending byte order, fetching pages as the loop
// asks for more; a failed page is the last thing yielded, with its error.
func (s *Store) All(prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		cursor := ""
		for {
			page, err := s.List(prefix, cursor, 0)
			if err != nil {
				yield("", err)
				return
			}
			for _, key := range page.Keys {
				if !yield(key, nil) {
					return
				}
			}
			if page.Cursor == "" {
				return
			}
			cursor = page.Cursor
		}
	}
}
