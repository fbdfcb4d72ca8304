package edgekv

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgefn-dev/edgefn/sdk/go/internal/abi"
)

// UseMemory makes every store call of this process go to an empty in-memory store granting the
// stores named, which checks and answers as every edgefn host does (grants, the contract's
// rules, byte-ordered listing with the last key as the cursor, expiry by the clock); the
// function it returns puts the previous host back. For tests:
//
//	func TestCounter(t *testing.T) {
//		t.Cleanup(edgekv.UseMemory("default"))
//		...
//	}
func UseMemory(stores ...string) (restore func()) {
	memory := &memoryHost{granted: stores, entries: map[string]map[string]entry{}}
	previous := imports
	imports = memory
	return func() { imports = previous }
}

type entry struct {
	value   []byte
	expires time.Time // zero: never
}

func (e entry) live() bool { return e.expires.IsZero() || time.Now().Before(e.expires) }

type memoryHost struct {
	mu      sync.Mutex
	granted []string
	entries map[string]map[string]entry
	pending []byte
}

// answer sets the pending result and returns code.
func (m *memoryHost) answer(code int64, pending []byte) int64 {
	m.pending = pending
	return code
}

// check refuses what a host refuses before its backend sees a call.
func (m *memoryHost) check(store string, checks ...error) (int64, bool) {
	if err := abi.CheckStoreName(store); err != nil {
		return m.answer(abi.CodeInvalid, []byte(err.Error())), false
	}
	if !slices.Contains(m.granted, store) {
		return m.answer(abi.CodeDenied, []byte("store "+strconv.Quote(store)+
			" is not granted to this function: add it to kv.stores")), false
	}
	for _, err := range checks {
		if err != nil {
			return m.answer(abi.CodeInvalid, []byte(err.Error())), false
		}
	}
	return 0, true
}

func (m *memoryHost) find(store, key string) (entry, bool) {
	e, ok := m.entries[store][key]
	return e, ok && e.live()
}

func (m *memoryHost) get(store, key string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if code, ok := m.check(store, abi.CheckKey(key)); !ok {
		return code
	}
	e, ok := m.find(store, key)
	if !ok {
		return m.answer(abi.CodeNotFound, nil)
	}
	return m.answer(int64(len(e.value)), slices.Clone(e.value))
}

func (m *memoryHost) set(store, key string, value []byte, ttlSeconds uint32) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if code, ok := m.check(store, abi.CheckKey(key), abi.CheckValue(value), abi.CheckTTL(ttlSeconds)); !ok {
		return code
	}
	e := entry{value: slices.Clone(value)}
	if ttlSeconds > 0 {
		e.expires = time.Now().Add(time.Duration(ttlSeconds) * time.Second)
	}
	if m.entries[store] == nil {
		m.entries[store] = map[string]entry{}
	}
	m.entries[store][key] = e
	return m.answer(0, nil)
}

func (m *memoryHost) delete(store, key string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if code, ok := m.check(store, abi.CheckKey(key)); !ok {
		return code
	}
	delete(m.entries[store], key)
	return m.answer(0, nil)
}

func (m *memoryHost) exists(store, key string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if code, ok := m.check(store, abi.CheckKey(key)); !ok {
		return code
	}
	if _, ok := m.find(store, key); !ok {
		return m.answer(abi.CodeNotFound, nil)
	}
	return m.answer(0, nil)
}

func (m *memoryHost) list(store, prefix, cursor string, limit uint32) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := abi.CheckListLimit(limit)
	if code, ok := m.check(store, abi.CheckPrefix(prefix), abi.CheckCursor(cursor), err); !ok {
		return code
	}
	var keys []string
	for key, e := range m.entries[store] {
		if strings.HasPrefix(key, prefix) && key > cursor && e.live() {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys) // Go compares strings by their bytes
	page := abi.KVListPage{Keys: keys}
	if len(keys) > int(n) {
		page.Keys = keys[:n]
		page.Cursor = keys[n-1]
	}
	out := page.Encode()
	return m.answer(int64(len(out)), out)
}

func (m *memoryHost) read(buf []byte) int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending == nil || len(buf) < len(m.pending) {
		if m.pending == nil && len(buf) == 0 {
			return 0
		}
		return abi.CodeInvalid
	}
	n := copy(buf, m.pending)
	m.pending = nil
	return int32(n)
}
