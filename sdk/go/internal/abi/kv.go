package abi

// The key-value imports of ABI v1 (docs/abi.md, "Key-value store"): kv_get, kv_set, kv_delete,
// kv_exists and kv_list, the EKL1 list page kv_list answers, and the portable contract's limits
// and rules, which every host checks before its backend sees a call (docs/kv.md). The Rust
// crate's edgefn_abi::kv is the reference; docs/abi-v1-kv-vectors.json holds the vectors both run.

import (
	"strconv"
	"unicode/utf8"
)

// Names of the key-value imports and the list page's magic bytes.
const (
	KVGetImport    = "kv_get"
	KVSetImport    = "kv_set"
	KVDeleteImport = "kv_delete"
	KVExistsImport = "kv_exists"
	KVListImport   = "kv_list"
	KVListMagic    = "EKL1"
)

// The contract's limits.
const (
	// MaxKeyBytes is the longest key (Workers KV's limit).
	MaxKeyBytes = 512
	// MaxValueBytes is the largest value: 256 KiB.
	MaxValueBytes = 256 * 1024
	// MinTTLSeconds is the shortest time to live (Workers KV's minimum); 0 means no expiry.
	MinTTLSeconds = 60
	// MaxListLimit is the most keys a page may ask for; 0 asks for this many.
	MaxListLimit = 1000
	// MaxStoreNameBytes is the longest store name.
	MaxStoreNameBytes = 32
	// MaxCursorBytes is the longest cursor a host accepts back.
	MaxCursorBytes = 4096
)

// KVListPage is one page of a key-value listing (host to guest, the result of kv_list).
type KVListPage struct {
	// Keys in ascending order of their UTF-8 bytes.
	Keys []string
	// Cursor is where the next page starts; empty on the last page.
	Cursor string
}

// EncodedLen is the size in bytes of the encoded page.
func (p *KVListPage) EncodedLen() int {
	n := len(KVListMagic) + lenSize + lenSize + len(p.Cursor)
	for _, k := range p.Keys {
		n += lenSize + len(k)
	}
	return n
}

// Encode returns the encoded page (the host's side; for tests and the native fake).
func (p *KVListPage) Encode() []byte {
	w := writer{make([]byte, 0, p.EncodedLen())}
	w.out = append(w.out, KVListMagic...)
	w.u32(len(p.Keys))
	for _, k := range p.Keys {
		w.str(k)
	}
	w.str(p.Cursor)
	return w.out
}

// DecodeKVListPage decodes a list page.
func DecodeKVListPage(b []byte) (*KVListPage, error) {
	r := reader{b}
	if err := r.magic(KVListMagic); err != nil {
		return nil, err
	}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	// Each key needs at least its length, which bounds the allocation.
	if n > len(r.rest)/lenSize {
		return nil, ErrTruncated
	}
	page := &KVListPage{Keys: make([]string, 0, n)}
	for range n {
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		page.Keys = append(page.Keys, key)
	}
	if page.Cursor, err = r.str(); err != nil {
		return nil, err
	}
	if err := r.finish(); err != nil {
		return nil, err
	}
	return page, nil
}

// Refused is why a store name, key, prefix, value, TTL, page size or cursor breaks the contract
// (the import's invalid); the messages are the Rust crate's.
type Refused string

func (r Refused) Error() string { return string(r) }

// CheckStoreName: 1-32 bytes of lower-case ASCII letters, digits and _, starting with a letter.
func CheckStoreName(name string) error {
	ok := len(name) > 0 && len(name) <= MaxStoreNameBytes && name[0] >= 'a' && name[0] <= 'z'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
	}
	if !ok {
		return Refused(strconv.Quote(name) + " is not a store name: use 1-" + strconv.Itoa(MaxStoreNameBytes) +
			" lower-case letters, digits and _, starting with a letter")
	}
	return nil
}

// CheckKey: 1-512 bytes of UTF-8, not "." or "..".
func CheckKey(key string) error {
	switch {
	case !utf8.ValidString(key):
		return Refused("the key is not UTF-8: keys are text")
	case key == "":
		return Refused("the key is empty: keys are 1-512 bytes")
	case len(key) > MaxKeyBytes:
		return Refused("the key is " + strconv.Itoa(len(key)) + " bytes long: keys are at most " +
			strconv.Itoa(MaxKeyBytes) + " bytes")
	case key == "." || key == "..":
		return Refused(strconv.Quote(key) + " cannot be a key (Workers KV refuses it)")
	}
	return nil
}

// CheckPrefix: 0-512 bytes of UTF-8.
func CheckPrefix(prefix string) error {
	switch {
	case !utf8.ValidString(prefix):
		return Refused("the prefix is not UTF-8: keys are text")
	case len(prefix) > MaxKeyBytes:
		return Refused("the prefix is " + strconv.Itoa(len(prefix)) + " bytes long: keys are at most " +
			strconv.Itoa(MaxKeyBytes) + " bytes")
	}
	return nil
}

// CheckValue: at most 256 KiB.
func CheckValue(value []byte) error {
	if len(value) > MaxValueBytes {
		return Refused("the value is " + strconv.Itoa(len(value)) + " bytes: values are at most " +
			strconv.Itoa(MaxValueBytes) + " bytes (256 KiB) on every platform")
	}
	return nil
}

// CheckTTL: 0 (no expiry) or at least 60 seconds.
func CheckTTL(seconds uint32) error {
	if seconds != 0 && seconds < MinTTLSeconds {
		return Refused("a time to live of " + strconv.FormatUint(uint64(seconds), 10) +
			" s is too short: use 0 (no expiry) or at least 60 s (Workers KV's minimum)")
	}
	return nil
}

// CheckListLimit: 0 (the maximum) or 1-1000; the effective limit.
func CheckListLimit(limit uint32) (uint32, error) {
	switch {
	case limit == 0:
		return MaxListLimit, nil
	case limit <= MaxListLimit:
		return limit, nil
	}
	return 0, Refused("a page of " + strconv.FormatUint(uint64(limit), 10) +
		" keys is too large: ask for at most " + strconv.Itoa(MaxListLimit))
}

// CheckCursor: UTF-8, at most 4096 bytes; empty means from the start.
func CheckCursor(cursor string) error {
	switch {
	case !utf8.ValidString(cursor):
		return Refused("the cursor is not UTF-8: pass back the one kv_list gave")
	case len(cursor) > MaxCursorBytes:
		return Refused("the cursor is " + strconv.Itoa(len(cursor)) + " bytes long: pass back the one kv_list gave")
	}
	return nil
}
