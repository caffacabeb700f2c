package sparsa

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
)

// The Go layer: slices, layouts, errors and handle life cycle.

func TestStridedOutputIsWrittenInPlace(t *testing.T) {
	ctx := newCtx(t)
	q, k, v := qkv(t, 2, 40, 48, 4, 2, 16)
	// A BHSD output buffer seen as [batch, seq, heads, dim].
	buf := make([]float32, 2*4*40*16)
	out := must(mustTensor(t, buf, [4]int{2, 4, 40, 16}).View([4]int{2, 40, 4, 16}, [3]int{4 * 40 * 16, 16, 40 * 16}))
	lse := make([]float32, 2*4*40)
	if err := Attention(ctx, q, k, v, nil, out, lse); err != nil {
		t.Fatal(err)
	}
	refOut, refLse := naive(q, k, v, func(h, i, j int) bool { return true })
	check(t, out, lse, refOut, refLse)
}

func TestPlanReuseFromGoroutines(t *testing.T) {
	ctx := newCtx(t)
	q, k, v := qkv(t, 1, 32, 32, 2, 2, 16)
	causal := must(Causal())
	defer causal.Close()
	mask := must(NewMask(ctx, []*Pattern{causal}, 32, 32, 16, 16))
	defer mask.Close()
	out0, _ := outputs(t, q, v)
	plan := must(NewPlan(ctx, q, k, v, out0, mask))
	defer plan.Close()
	if n := must(plan.NumBlocks()); n <= 0 {
		t.Fatalf("NumBlocks = %d", n)
	}
	refOut, refLse := naive(q, k, v, func(h, i, j int) bool { return j <= i })
	var wg sync.WaitGroup
	errs := make([]error, 8)
	outs := make([]Tensor, 8)
	lses := make([][]float32, 8)
	for g := range errs {
		outs[g], lses[g] = outputs(t, q, v)
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			errs[g] = plan.Execute(q, k, v, outs[g], lses[g])
		}(g)
	}
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		check(t, outs[g], lses[g], refOut, refLse)
	}
	shorter := must(q.View([4]int{1, 16, 2, 16}, [3]int{32 * 32, 32, 16}))
	if err := plan.Execute(shorter, k, v, out0, nil); err == nil || !strings.Contains(err.Error(), "planned") {
		t.Fatalf("a q of another shape gave %v", err)
	}
}

func TestWrongShapesAreRejected(t *testing.T) {
	ctx := newCtx(t)
	q, k, v := qkv(t, 1, 16, 16, 2, 2, 16)
	out, _ := outputs(t, q, v)
	narrow := mustTensor(t, lcg(2, 16*2*8), [4]int{1, 16, 2, 8})
	if err := Attention(ctx, q, narrow, v, nil, out, nil); err == nil || !strings.Contains(err.Error(), "head dim") {
		t.Fatalf("k with another head dim gave %v", err)
	}
	if _, err := NewTensor(make([]float32, 10), [4]int{1, 16, 2, 16}); err == nil {
		t.Fatal("a slice too short for its shape was accepted")
	}
	if _, err := NewTensor(nil, [4]int{1, 1, 1, 1}); err == nil {
		t.Fatal("an empty slice was accepted")
	}
	if err := Attention(ctx, q, k, v, nil, out, make([]float32, 3)); err == nil || !strings.Contains(err.Error(), "lse") {
		t.Fatalf("a short lse gave %v", err)
	}
}

func TestOutputsThatOverlapThemselvesAreRejected(t *testing.T) {
	ctx := newCtx(t)
	q, k, v := qkv(t, 1, 16, 16, 2, 2, 16)
	data := make([]float32, 16*2*16)
	// Heads 8 elements apart but 16 wide: each row's heads share memory.
	out := must(mustTensor(t, data, [4]int{1, 16, 2, 16}).View([4]int{1, 16, 2, 16}, [3]int{512, 32, 8}))
	err := Attention(ctx, q, k, v, nil, out, nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != InvalidArgument || !strings.Contains(e.Message, "out: strides") ||
		!strings.Contains(e.Message, "share an address") {
		t.Fatalf("an output that overlaps itself gave %v", err)
	}
	for _, x := range data {
		if x != 0 {
			t.Fatal("the rejected output was written")
		}
	}
}

func TestKernelPathNamesACpuPath(t *testing.T) {
	ctx := newCtx(t)
	path := must(ctx.KernelPath())
	switch path {
	case "amxbf16", "avx512bf16", "avx512", "avx2", "generic":
	default:
		t.Fatalf("kernel path %q", path)
	}
	closed := must(NewContext())
	closed.Close()
	if _, err := closed.KernelPath(); !errors.Is(err, ErrClosed) {
		t.Fatalf("KernelPath on a closed context: %v", err)
	}
}

func TestClosedHandlesAreRejected(t *testing.T) {
	ctx := newCtx(t)
	p := must(Causal())
	mask := must(NewMask(ctx, []*Pattern{p}, 16, 16, 16, 16))
	p.Close()
	p.Close()
	if _, err := p.Kind(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Kind on a closed pattern: %v", err)
	}
	if _, err := NewMask(ctx, []*Pattern{p}, 16, 16, 16, 16); !errors.Is(err, ErrClosed) {
		t.Fatalf("a mask of a closed pattern: %v", err)
	}
	if d := must(mask.Density(-1)); d <= 0 {
		t.Fatalf("density %g after closing the pattern", d)
	}
	mask.Close()
	if _, err := mask.Density(-1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Density on a closed mask: %v", err)
	}
	other := must(NewContext())
	other.Close()
	dense := must(Dense())
	defer dense.Close()
	if _, err := NewMask(other, []*Pattern{dense}, 16, 16, 16, 16); !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "Context") {
		t.Fatalf("a mask on a closed context: %v", err)
	}
}

func TestLibraryErrorsCarryStatusAndMessage(t *testing.T) {
	_, err := Window(-1, 0)
	var e *Error
	if !errors.As(err, &e) || e.Status != InvalidArgument || e.Message == "" {
		t.Fatalf("Window(-1, 0): %v", err)
	}
	if !strings.HasPrefix(err.Error(), "sparsa: invalid argument: ") {
		t.Fatalf("message %q", err.Error())
	}
	if _, err := NewEngineContext(CPU, 3); !errors.As(err, &e) || e.Status != InvalidArgument {
		t.Fatalf("device 3 of the CPU: %v", err)
	}
}

func TestPatternsAndMasks(t *testing.T) {
	ctx := newCtx(t)
	local := must(Window(3, 0))
	defer local.Close()
	glob := must(Global([]int64{0, 5}))
	defer glob.Close()
	both := must(Union(local, glob))
	defer both.Close()
	for _, c := range []struct {
		i, j int64
		want bool
	}{{9, 0, true}, {9, 7, true}, {9, 3, false}} {
		if got := must(both.IsVisible(10, 10, c.i, c.j)); got != c.want {
			t.Fatalf("visible(%d, %d) = %v", c.i, c.j, got)
		}
	}
	bitmap := must(BlocksBitmap(16, 16, [][]bool{{true, false}, {true, true}}))
	defer bitmap.Close()
	none := must(NoKeys())
	defer none.Close()
	mask := must(NewMask(ctx, []*Pattern{bitmap, none}, 32, 32, 16, 16))
	defer mask.Close()
	if d := must(mask.Density(0)); d != 0.75 {
		t.Fatalf("density %g, want 0.75", d)
	}
	bsr := must(mask.ExportBSR(0))
	if len(bsr.ColIdx) != 3 || bsr.RowPtr[2] != 3 {
		t.Fatalf("bsr %+v", bsr)
	}
	nb := must(Neighborhood([]int64{4, 4}, []int64{3, 3}, nil, nil))
	nb.Close()
}

func TestBFloat16(t *testing.T) {
	ctx := newCtx(t)
	shape := [4]int{1, 32, 2, 16}
	n := 32 * 2 * 16
	// bfloat16 is the upper half of a float32: truncate, and keep the
	// rounded float32 values for the reference.
	half := func(seed uint32) ([]uint16, Tensor) {
		bits, rounded := make([]uint16, n), make([]float32, n)
		for i, x := range lcg(seed, n) {
			bits[i] = uint16(math.Float32bits(x) >> 16)
			rounded[i] = math.Float32frombits(uint32(bits[i]) << 16)
		}
		return bits, mustTensor(t, rounded, shape)
	}
	qb, qr := half(1)
	kb, kr := half(2)
	vb, vr := half(3)
	ob := make([]uint16, n)
	tensor := func(bits []uint16) Tensor { return must(NewHalfTensor(bits, BF16, shape)) }
	if err := Attention(ctx, tensor(qb), tensor(kb), tensor(vb), nil, tensor(ob), nil); err != nil {
		t.Fatal(err)
	}
	refOut, _ := naive(qr, kr, vr, func(h, i, j int) bool { return true })
	for i, bits := range ob {
		got := float64(math.Float32frombits(uint32(bits) << 16))
		if math.Abs(got-refOut[i]) > 1e-2 {
			t.Fatalf("out[%d] = %g, want %g", i, got, refOut[i])
		}
	}
}
