package sparsa

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The cross-language conformance cases (bindings/CONFORMANCE.md).

func newCtx(t *testing.T) *Context {
	t.Helper()
	ctx, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Close() })
	return ctx
}

// must unwraps a (value, error) result; an error fails the whole run, as
// a test helper may not take t alongside a multi-value call.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSinkWindow(t *testing.T) {
	ctx := newCtx(t)
	q, k, v := qkv(t, 1, 100, 120, 2, 1, 16)
	out, lse := outputs(t, q, v)
	p := must(SinkWindow(4, 32))
	defer p.Close()
	mask := must(NewMask(ctx, []*Pattern{p}, 100, 120, 16, 16))
	defer mask.Close()
	if err := Attention(ctx, q, k, v, mask, out, lse); err != nil {
		t.Fatal(err)
	}
	refOut, refLse := naive(q, k, v, func(h, i, j int) bool {
		d := i + 20 - j
		return d >= 0 && (j < 4 || d < 32)
	})
	check(t, out, lse, refOut, refLse)
}

var bsrRowPtr = [][]int64{{0, 1, 3}, {0, 1, 2}}
var bsrColIdx = [][]int32{{0, 0, 1}, {1, 0}}

func TestBSRPerHead(t *testing.T) {
	ctx := newCtx(t)
	q, k, v := qkv(t, 1, 64, 64, 2, 2, 16)
	out, lse := outputs(t, q, v)
	var heads []*Pattern
	for h := 0; h < 2; h++ {
		p := must(BlocksBSR(32, 32, bsrRowPtr[h], bsrColIdx[h]))
		defer p.Close()
		heads = append(heads, p)
	}
	mask := must(NewMask(ctx, heads, 64, 64, 16, 16))
	defer mask.Close()
	if err := Attention(ctx, q, k, v, mask, out, lse); err != nil {
		t.Fatal(err)
	}
	refOut, refLse := naive(q, k, v, func(h, i, j int) bool {
		r := i / 32
		for e := bsrRowPtr[h][r]; e < bsrRowPtr[h][r+1]; e++ {
			if int(bsrColIdx[h][e]) == j/32 {
				return true
			}
		}
		return false
	})
	check(t, out, lse, refOut, refLse)
}

func conformanceEstimator() *Estimator {
	topK, zero, no, yes := 2, 0, false, true
	return &Estimator{Method: MethodPooledBlocks, BlockQ: 16, BlockKV: 16, TopK: &topK,
		KeepSinkBlocks: &zero, KeepDiagonal: &no, Causal: &yes}
}

func TestEstimator(t *testing.T) {
	ctx := newCtx(t)
	q, k, v := qkv(t, 1, 128, 128, 2, 2, 16)
	out, lse := outputs(t, q, v)
	mask := must(conformanceEstimator().Estimate(ctx, q, k))
	defer mask.Close()
	var tiles [2][8][8]bool
	for h := 0; h < 2; h++ {
		bsr := must(mask.ExportBSR(h))
		for r := 0; r < 8; r++ {
			if n := bsr.RowPtr[r+1] - bsr.RowPtr[r]; n > 2 {
				t.Fatalf("head %d row %d keeps %d blocks, top-k is 2", h, r, n)
			}
			for e := bsr.RowPtr[r]; e < bsr.RowPtr[r+1]; e++ {
				tiles[h][r][bsr.ColIdx[e]] = true
			}
		}
	}
	if err := Attention(ctx, q, k, v, mask, out, lse); err != nil {
		t.Fatal(err)
	}
	refOut, refLse := naive(q, k, v, func(h, i, j int) bool { return tiles[h][i/16][j/16] && j <= i })
	check(t, out, lse, refOut, refLse)
}

func masksBSR(t *testing.T, m *Mask) []BSR {
	t.Helper()
	var all []BSR
	for h := 0; h < must(m.NumHeads()); h++ {
		all = append(all, must(m.ExportBSR(h)))
	}
	return all
}

func TestConfigRoundTrip(t *testing.T) {
	ctx := newCtx(t)
	q, k, _ := qkv(t, 1, 128, 128, 2, 2, 16)
	path := filepath.Join(t.TempDir(), "heads.cfg")
	cfg := must(SearchPatterns(ctx, q, k, 0.9, 16, 16, true))
	defer cfg.Close()
	if err := cfg.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded := must(LoadPatternConfig(path))
	defer loaded.Close()
	if a, b := must(cfg.NumHeads()), must(loaded.NumHeads()); a != 2 || b != 2 {
		t.Fatalf("heads %d and %d, want 2", a, b)
	}
	for h := 0; h < 2; h++ {
		if a, b := must(cfg.HeadKind(h)), must(loaded.HeadKind(h)); a != b {
			t.Fatalf("head %d kind %d after loading, %d before", h, b, a)
		}
	}
	a := must(cfg.Mask(ctx, 128, 128))
	defer a.Close()
	b := must(loaded.Mask(ctx, 128, 128))
	defer b.Close()
	if !reflect.DeepEqual(masksBSR(t, a), masksBSR(t, b)) {
		t.Fatal("the loaded config gives another mask")
	}
}

func TestCacheRoundTrip(t *testing.T) {
	ctx := newCtx(t)
	q, k, _ := qkv(t, 1, 128, 128, 2, 2, 16)
	est := conformanceEstimator()
	path := filepath.Join(t.TempDir(), "wisdom.bin")
	cache := must(NewCache(ctx, 0, 0))
	first := must(cache.Acquire(est, q, k, CacheKey{Layer: 3, Step: 0}))
	second := must(cache.Acquire(est, q, k, CacheKey{Layer: 3, Step: 1}))
	saved := masksBSR(t, must(first.Mask()))
	if !reflect.DeepEqual(saved, masksBSR(t, must(second.Mask()))) {
		t.Fatal("a hit returned another mask")
	}
	first.Close()
	second.Close()
	if s := must(cache.Stats()); s.Hits != 1 || s.Misses != 1 {
		t.Fatalf("stats %+v, want 1 hit and 1 miss", s)
	}
	if err := cache.Save(path); err != nil {
		t.Fatal(err)
	}
	cache.Close()

	fresh := must(NewCache(ctx, 0, 0))
	defer fresh.Close()
	if e := must(fresh.Lookup(est, q, k, CacheKey{Layer: 3})); e != nil {
		t.Fatal("an empty cache found an entry")
	}
	if err := fresh.Load(path); err != nil {
		t.Fatal(err)
	}
	entry := must(fresh.Lookup(est, q, k, CacheKey{Layer: 3}))
	if entry == nil {
		t.Fatal("the loaded cache misses")
	}
	defer entry.Close()
	direct := must(est.Estimate(ctx, q, k))
	defer direct.Close()
	if got := masksBSR(t, must(entry.Mask())); !reflect.DeepEqual(got, saved) || !reflect.DeepEqual(got, masksBSR(t, direct)) {
		t.Fatal("the loaded entry's mask differs")
	}
	if e := must(fresh.Lookup(est, q, k, CacheKey{Layer: 4})); e != nil {
		t.Fatal("layer 4 was never cached")
	}
}

func TestMerge(t *testing.T) {
	ctx := newCtx(t)
	q, k, v := qkv(t, 1, 32, 64, 2, 2, 16)
	kData, vData := k.owner.([]float32), v.owner.([]float32)
	row := 2 * 16 // one key's elements over heads and dim
	part := func(data []float32, from, n int) Tensor {
		return mustTensor(t, data[from*row:(from+n)*row], [4]int{1, n, 2, 16})
	}
	outA, lseA := outputs(t, q, v)
	outB, lseB := outputs(t, q, v)
	if err := Attention(ctx, q, part(kData, 0, 24), part(vData, 0, 24), nil, outA, lseA); err != nil {
		t.Fatal(err)
	}
	if err := Attention(ctx, q, part(kData, 24, 40), part(vData, 24, 40), nil, outB, lseB); err != nil {
		t.Fatal(err)
	}
	out, lse := outputs(t, q, v)
	if err := MergeStates(ctx, outA, lseA, outB, lseB, out, lse); err != nil {
		t.Fatal(err)
	}
	refOut, refLse := naive(q, k, v, func(h, i, j int) bool { return true })
	check(t, out, lse, refOut, refLse)
}

func TestErrorBadShape(t *testing.T) {
	ctx := newCtx(t)
	q, k, v := qkv(t, 1, 16, 16, 3, 2, 16)
	out, _ := outputs(t, q, v)
	err := Attention(ctx, q, k, v, nil, out, nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != InvalidArgument {
		t.Fatalf("got %v, want an InvalidArgument *Error", err)
	}
}

func TestErrorCorruptFile(t *testing.T) {
	ctx := newCtx(t)
	path := filepath.Join(t.TempDir(), "corrupt.cfg")
	if err := os.WriteFile(path, []byte("not a pattern config"), 0o644); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := LoadPatternConfig(path); !errors.As(err, &e) || e.Status != Format {
		t.Fatalf("pattern config: got %v, want a Format *Error", err)
	}
	cache := must(NewCache(ctx, 0, 0))
	defer cache.Close()
	text := []byte{}
	for i := 0; i < 4; i++ {
		text = append(text, "not a sparsa cache file, long enough to hold a header"...)
	}
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cache.Load(path); !errors.As(err, &e) || e.Status != Format {
		t.Fatalf("cache: got %v, want a Format *Error", err)
	}
}
