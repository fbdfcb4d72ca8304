package abi

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// kvVectors mirrors docs/abi-v1-kv-vectors.json.
type kvVectors struct {
	ABIVersion int `json:"abi_version"`
	Pages      []struct {
		Name    string `json:"name"`
		Hex     string `json:"hex"`
		Decoded struct {
			Keys   []string `json:"keys"`
			Cursor string   `json:"cursor"`
		} `json:"decoded"`
	} `json:"pages"`
	Invalid []struct {
		Name  string `json:"name"`
		Hex   string `json:"hex"`
		Error string `json:"error"`
	} `json:"invalid"`
	Checks struct {
		ValidKeys     []string    `json:"valid_keys"`
		InvalidKeys   []string    `json:"invalid_keys"`
		ValidStores   []string    `json:"valid_stores"`
		InvalidStores []string    `json:"invalid_stores"`
		ValidTTLs     []uint32    `json:"valid_ttls"`
		InvalidTTLs   []uint32    `json:"invalid_ttls"`
		ValidLimits   [][2]uint32 `json:"valid_limits"`
		InvalidLimits []uint32    `json:"invalid_limits"`
		MaxValueBytes int         `json:"max_value_bytes"`
	} `json:"checks"`
}

func loadKV(t *testing.T) kvVectors {
	t.Helper()
	path := filepath.Join(docsDir, "abi-v1-kv-vectors.json")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the shared key-value vectors: %v", err)
	}
	var v kvVectors
	if err := json.Unmarshal(text, &v); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	if v.ABIVersion != Version || len(v.Pages) == 0 || len(v.Invalid) == 0 {
		t.Fatalf("%s: ABI v%d with %d pages and %d invalid ones", path, v.ABIVersion, len(v.Pages), len(v.Invalid))
	}
	return v
}

func TestKVListPageVectorsDecodeAndReencodeExactly(t *testing.T) {
	for _, vec := range loadKV(t).Pages {
		raw, err := hex.DecodeString(vec.Hex)
		if err != nil {
			t.Fatal(err)
		}
		page, err := DecodeKVListPage(raw)
		if err != nil {
			t.Fatalf("%s: %v", vec.Name, err)
		}
		want := vec.Decoded.Keys
		if want == nil {
			want = []string{}
		}
		if !slices.Equal(page.Keys, want) || page.Cursor != vec.Decoded.Cursor {
			t.Errorf("%s: decoded %+v, want %+v", vec.Name, page, vec.Decoded)
		}
		again := &KVListPage{Keys: vec.Decoded.Keys, Cursor: vec.Decoded.Cursor}
		if got := again.Encode(); !bytes.Equal(got, raw) || again.EncodedLen() != len(raw) {
			t.Errorf("%s: encoded %x, want %x", vec.Name, got, raw)
		}
	}
}

func TestInvalidKVListPagesAreRefusedWithTheNamedError(t *testing.T) {
	for _, vec := range loadKV(t).Invalid {
		raw, _ := hex.DecodeString(vec.Hex)
		_, err := DecodeKVListPage(raw)
		var e *Error
		if !errors.As(err, &e) || e.Name != vec.Error {
			t.Errorf("%s: got %v, want %s", vec.Name, err, vec.Error)
		}
	}
}

func TestTheContractsChecksAcceptAndRefuseAsEveryHostDoes(t *testing.T) {
	c := loadKV(t).Checks
	for _, k := range c.ValidKeys {
		if err := CheckKey(k); err != nil {
			t.Errorf("key %q: %v", k, err)
		}
	}
	for _, k := range c.InvalidKeys {
		if CheckKey(k) == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	for _, s := range c.ValidStores {
		if err := CheckStoreName(s); err != nil {
			t.Errorf("store %q: %v", s, err)
		}
	}
	for _, s := range c.InvalidStores {
		if CheckStoreName(s) == nil {
			t.Errorf("store %q accepted", s)
		}
	}
	for _, ttl := range c.ValidTTLs {
		if err := CheckTTL(ttl); err != nil {
			t.Errorf("ttl %d: %v", ttl, err)
		}
	}
	for _, ttl := range c.InvalidTTLs {
		if CheckTTL(ttl) == nil {
			t.Errorf("ttl %d accepted", ttl)
		}
	}
	for _, l := range c.ValidLimits {
		if got, err := CheckListLimit(l[0]); err != nil || got != l[1] {
			t.Errorf("limit %d: %d, %v; want %d", l[0], got, err, l[1])
		}
	}
	for _, l := range c.InvalidLimits {
		if _, err := CheckListLimit(l); err == nil {
			t.Errorf("limit %d accepted", l)
		}
	}
	if c.MaxValueBytes != MaxValueBytes || CheckValue(make([]byte, MaxValueBytes)) != nil ||
		CheckValue(make([]byte, MaxValueBytes+1)) == nil {
		t.Errorf("the value limit is %d here, %d in the vectors", MaxValueBytes, c.MaxValueBytes)
	}
}
