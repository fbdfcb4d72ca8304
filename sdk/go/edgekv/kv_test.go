package edgekv

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T) *Store {
	t.Helper()
	store, err := Open("default")
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

func TestWithoutAHostACallIsUnsupportedAndSaysWhatToDo(t *testing.T) {
	_, _, err := open(t).Get("k")
	if kindOf(err) != Unsupported || !strings.Contains(err.Error(), "UseMemory") {
		t.Fatalf("got %v", err)
	}
}

func TestAStoreNameIsCheckedWhenOpened(t *testing.T) {
	for _, bad := range []string{"", "Default", "1abc", "a-b", strings.Repeat("x", 33)} {
		if _, err := Open(bad); kindOf(err) != Invalid {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestSetGetExistsDeleteAndList(t *testing.T) {
	t.Cleanup(UseMemory("default"))
	store := open(t)
	if _, found, err := store.Get("missing"); found || err != nil {
		t.Fatalf("missing: %v %v", found, err)
	}
	for _, key := range []string{"u/b", "u/a", "u/é", "u/Z", "v/a", "a/b#c?d"} {
		if err := store.Set(key, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}
	if value, found, err := store.Get("a/b#c?d"); !found || err != nil || string(value) != "a/b#c?d" {
		t.Fatalf("get: %q %v %v", value, found, err)
	}
	if err := store.Set("empty", nil); err != nil {
		t.Fatal(err)
	}
	if value, found, err := store.Get("empty"); !found || err != nil || len(value) != 0 {
		t.Fatalf("an empty value: %q %v %v", value, found, err)
	}
	first, err := store.List("u/", "", 2)
	if err != nil || !slices.Equal(first.Keys, []string{"u/Z", "u/a"}) || first.Cursor == "" {
		t.Fatalf("first page: %+v %v", first, err)
	}
	second, err := store.List("u/", first.Cursor, 2)
	if err != nil || !slices.Equal(second.Keys, []string{"u/b", "u/é"}) || second.Cursor != "" {
		t.Fatalf("second page: %+v %v", second, err)
	}
	var all []string
	for key, err := range store.All("u/") {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, key)
	}
	if !slices.Equal(all, []string{"u/Z", "u/a", "u/b", "u/é"}) {
		t.Fatalf("all: %v", all)
	}
	if err := store.Delete("u/a"); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete("u/a"); err != nil {
		t.Fatal("deleting an absent key succeeds:", err)
	}
	if ok, err := store.Exists("u/a"); ok || err != nil {
		t.Fatalf("exists after delete: %v %v", ok, err)
	}
	if ok, err := store.Exists("u/b"); !ok || err != nil {
		t.Fatalf("exists: %v %v", ok, err)
	}
}

func TestTheContractIsCheckedAndTheGrantToo(t *testing.T) {
	t.Cleanup(UseMemory("default"))
	store := open(t)
	if err := store.SetWithTTL("k", []byte("v"), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"a short TTL":       store.SetWithTTL("k", []byte("v"), 30*time.Second),
		"a zero TTL":        store.SetWithTTL("k", []byte("v"), 0),
		"a value too large": store.Set("k", make([]byte, 256*1024+1)),
		"an empty key":      store.Set("", []byte("v")),
		"a key too long":    store.Set(strings.Repeat("k", 513), []byte("v")),
	} {
		if kindOf(err) != Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := store.Set("max", make([]byte, 256*1024)); err != nil {
		t.Fatal("256 KiB is allowed:", err)
	}
	if _, err := store.List("", "", 1001); kindOf(err) != Invalid {
		t.Errorf("a page of 1001: %v", err)
	}
	other, _ := Open("sessions")
	if _, _, err := other.Get("k"); kindOf(err) != Denied || !strings.Contains(err.Error(), "kv.stores") {
		t.Errorf("an ungranted store: %v", err)
	}
}

// fakeHost answers every call with one code and pending result.
type fakeHost struct {
	code    int64
	pending []byte
}

func (f *fakeHost) get(string, string) int64                  { return f.code }
func (f *fakeHost) set(string, string, []byte, uint32) int64  { return f.code }
func (f *fakeHost) delete(string, string) int64               { return f.code }
func (f *fakeHost) exists(string, string) int64               { return f.code }
func (f *fakeHost) list(string, string, string, uint32) int64 { return f.code }
func (f *fakeHost) read(buf []byte) int32 {
	if len(buf) < len(f.pending) {
		return -3
	}
	return int32(copy(buf, f.pending))
}

func TestEveryErrorCodeHasItsKindAndTheHostsMessage(t *testing.T) {
	previous := imports
	t.Cleanup(func() { imports = previous })
	for code, kind := range map[int64]Kind{-1: Denied, -3: Invalid, -4: Limit, -5: Timeout, -6: Unavailable,
		-7: RateLimited, -8: Unsupported, -99: Unknown} {
		imports = &fakeHost{code: code, pending: []byte("the host says so")}
		store := open(t)
		_, _, getErr := store.Get("k")
		_, existsErr := store.Exists("k")
		_, listErr := store.List("", "", 0)
		for _, err := range []error{getErr, store.Set("k", nil), store.Delete("k"), existsErr, listErr} {
			var e *Error
			if !errors.As(err, &e) || e.Kind != kind || e.Code != int(code) || !strings.Contains(e.Message, "the host says so") {
				t.Errorf("code %d: %#v", code, err)
			}
		}
	}
	imports = &fakeHost{code: -2}
	if err := open(t).Set("k", nil); kindOf(err) != Unknown {
		t.Errorf("not-found from kv_set is the host's mistake: %v", err)
	}
	imports = &fakeHost{code: 10, pending: []byte("short")}
	if _, _, err := open(t).Get("k"); kindOf(err) != Unknown || !strings.Contains(err.Error(), "result_read") {
		t.Errorf("a wrong size: %v", err)
	}
}
