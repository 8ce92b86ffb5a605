package synccore

import "hash/maphash"

// keyFilter is a Bloom filter of the oplog keys a bucket holds: when it says
// a key is absent, no row of the bucket has that key, and the lookup of
// superseded rows (deleteKeys) can leave the key out. An initial sync sends
// every row once, so without the filter each data line after the first
// looks up a thousand keys that are never there (11% of a 100k replay's
// CPU).
//
// A bucket gets a filter when a data line finds it without oplog rows;
// from then on every key stored for it (insertPuts is the only writer of
// ps_oplog) is added. Rows that go away (superseded, CLEAR, a deleted
// bucket, a rolled-back call) stay in the filter, which only makes it say
// "maybe" more often: it may hold keys the bucket no longer has, never
// miss one it has. Filters live for one iteration.
//
// The filter grows by adding a filter of twice the capacity when the last
// one is full, about 10 bits (1.25 bytes) a key in all, for a false
// positive rate near 1% each.
type keyFilter struct {
	seed  maphash.Seed
	parts []*bloom
}

type bloom struct {
	bits  []uint64
	n     int // keys added
	limit int // keys it holds at ~1% false positives
}

const bloomHashes = 7

func newKeyFilter(expected int) *keyFilter {
	f := &keyFilter{seed: maphash.MakeSeed()}
	f.grow(max(expected, 1024))
	return f
}

func (f *keyFilter) grow(keys int) {
	words := (keys*10 + 63) / 64
	f.parts = append(f.parts, &bloom{bits: make([]uint64, words), limit: keys})
}

func (f *keyFilter) hash(key string) (uint32, uint32) {
	h := maphash.String(f.seed, key)
	return uint32(h), uint32(h>>32) | 1
}

func (f *keyFilter) add(key string) {
	last := f.parts[len(f.parts)-1]
	if last.n >= last.limit {
		f.grow(2 * last.limit)
		last = f.parts[len(f.parts)-1]
	}
	h1, h2 := f.hash(key)
	m := uint32(len(last.bits) * 64)
	for i := range uint32(bloomHashes) {
		b := (h1 + i*h2) % m
		last.bits[b/64] |= 1 << (b % 64)
	}
	last.n++
}

// present returns the keys of keys that may have been added.
func (f *keyFilter) present(keys []string) []string {
	var out []string
	for _, k := range keys {
		if k != "" && f.mayHave(k) {
			out = append(out, k)
		}
	}
	return out
}

// mayHave is false when no key equal to key was added.
func (f *keyFilter) mayHave(key string) bool {
	h1, h2 := f.hash(key)
	for _, p := range f.parts {
		m := uint32(len(p.bits) * 64)
		found := true
		for i := range uint32(bloomHashes) {
			b := (h1 + i*h2) % m
			if p.bits[b/64]&(1<<(b%64)) == 0 {
				found = false
				break
			}
		}
		if found {
			return true
		}
	}
	return false
}
