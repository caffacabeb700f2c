package sparsa

import (
	"fmt"
	"runtime"
	"unsafe"

	"sparsa/internal/capi"
)

// checkTensors checks what the library cannot see: that the tensors agree.
func checkTensors(q, k, v Tensor, out *Tensor) error {
	for _, t := range []Tensor{k, v} {
		if t.DType != q.DType {
			return fmt.Errorf("sparsa: dtype %d differs from q's %d", t.DType, q.DType)
		}
	}
	same := func(what string, a, b int) error {
		if a != b {
			return fmt.Errorf("sparsa: %s: %d vs %d", what, a, b)
		}
		return nil
	}
	for _, err := range []error{
		same("batch of q and k", q.Shape[0], k.Shape[0]), same("batch of k and v", k.Shape[0], v.Shape[0]),
		same("kv length of k and v", k.Shape[1], v.Shape[1]), same("kv heads of k and v", k.Shape[2], v.Shape[2]),
		same("head dim of q and k", q.Shape[3], k.Shape[3]),
	} {
		if err != nil {
			return err
		}
	}
	if out != nil {
		if want := [4]int{q.Shape[0], q.Shape[1], q.Shape[2], v.Shape[3]}; out.Shape != want || out.DType != q.DType {
			return fmt.Errorf("sparsa: out shape %v, want %v with q's dtype", out.Shape, want)
		}
	}
	return nil
}

// withProblem runs f with a library problem for these tensors (out may be nil).
func withProblem(q, k, v Tensor, out *Tensor, f func(capi.Sparsa_problem)) error {
	return call(func() {
		p := capi.Problem_create()
		if capi.Last_status() != capi.SPARSA_OK {
			return
		}
		defer capi.Problem_destroy(p)
		capi.Problem_set_shape(p, int(q.DType), q.Shape[0], q.Shape[2], k.Shape[2], q.Shape[3], v.Shape[3], int64(q.Shape[1]), int64(k.Shape[1]))
		strides := []struct {
			which int
			t     *Tensor
		}{{capi.SPARSA_BIND_Q, &q}, {capi.SPARSA_BIND_K, &k}, {capi.SPARSA_BIND_V, &v}, {capi.SPARSA_BIND_OUT, out}}
		for _, s := range strides {
			if s.t != nil {
				capi.Problem_set_strides(p, s.which, int64(s.t.Strides[0]), int64(s.t.Strides[1]), int64(s.t.Strides[2]))
			}
		}
		f(p)
	})
}

// Plan is a validated problem and mask with the engine's schedule;
// immutable, so Execute may run from many goroutines with distinct outputs.
// It fixes the layouts of q, k, v and out; Execute checks them.
type Plan struct {
	ptr        capi.Sparsa_plan
	q, k, v, o Tensor
}

// NewPlan plans attention for these layouts; mask nil means dense.
func NewPlan(ctx *Context, q, k, v, out Tensor, mask *Mask) (*Plan, error) {
	c, err := ctx.handle()
	if err != nil {
		return nil, err
	}
	var m capi.Struct_SS_sparsa_mask = capi.SwigcptrStruct_SS_sparsa_mask(0)
	if mask != nil {
		if m, err = mask.handle(); err != nil {
			return nil, err
		}
	}
	if err := checkTensors(q, k, v, &out); err != nil {
		return nil, err
	}
	var ptr capi.Sparsa_plan
	if err := withProblem(q, k, v, &out, func(p capi.Sparsa_problem) { ptr = capi.Plan_create(c, p, m) }); err != nil {
		return nil, err
	}
	return &Plan{ptr: ptr, q: q, k: k, v: v, o: out}, nil
}

func (p *Plan) handle() (capi.Sparsa_plan, error) {
	if p == nil || p.ptr == nil {
		return nil, closedError("Plan")
	}
	return p.ptr, nil
}

// NumBlocks is the number of block products computed over the batch.
func (p *Plan) NumBlocks() (int64, error) {
	h, err := p.handle()
	if err != nil {
		return 0, err
	}
	var n int64
	err = call(func() { n = capi.Plan_num_blocks(h) })
	return n, err
}

// Execute runs attention into out; lse (packed [batch, heads, q_len]) may be nil.
func (p *Plan) Execute(q, k, v, out Tensor, lse []float32) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	for i, pair := range [][2]Tensor{{p.q, q}, {p.k, k}, {p.v, v}, {p.o, out}} {
		if !pair[0].sameLayout(pair[1]) {
			return fmt.Errorf("sparsa: %s differs from the planned dtype, shape or strides", []string{"q", "k", "v", "out"}[i])
		}
	}
	l, err := lseAddress(lse, out.Shape[0], out.Shape[2], out.Shape[1])
	if err != nil {
		return err
	}
	err = call(func() { capi.Execute(h, q.ptr, k.ptr, v.ptr, out.ptr, l, nil, 0) })
	runtime.KeepAlive([]any{q.owner, k.owner, v.owner, out.owner, lse})
	return err
}

// Close releases the plan; closing twice is a no-op.
func (p *Plan) Close() error {
	if p != nil && p.ptr != nil {
		capi.Plan_destroy(p.ptr)
		p.ptr = nil
	}
	return nil
}

// Attention plans, executes and releases: attention into out (mask nil:
// dense; lse may be nil).
func Attention(ctx *Context, q, k, v Tensor, mask *Mask, out Tensor, lse []float32) error {
	plan, err := NewPlan(ctx, q, k, v, out, mask)
	if err != nil {
		return err
	}
	defer plan.Close()
	return plan.Execute(q, k, v, out, lse)
}

// MergeStates combines two partial results over disjoint keys by their
// log-sum-exp. The outputs share one layout; lse slices are packed
// [batch, heads, q_len]. out may be outA or outB.
func MergeStates(ctx *Context, outA Tensor, lseA []float32, outB Tensor, lseB []float32, out Tensor, lse []float32) error {
	c, err := ctx.handle()
	if err != nil {
		return err
	}
	if !outA.sameLayout(outB) || !outA.sameLayout(out) {
		return fmt.Errorf("sparsa: MergeStates: outputs differ in dtype, shape or strides")
	}
	batch, qLen, heads := outA.Shape[0], outA.Shape[1], outA.Shape[2]
	lses := make([]unsafe.Pointer, 3)
	for i, l := range [][]float32{lseA, lseB, lse} {
		if i < 2 && l == nil {
			return fmt.Errorf("sparsa: MergeStates: lseA and lseB are required")
		}
		if lses[i], err = lseAddress(l, batch, heads, qLen); err != nil {
			return err
		}
	}
	err = call(func() {
		p := capi.Problem_create()
		if capi.Last_status() != capi.SPARSA_OK {
			return
		}
		defer capi.Problem_destroy(p)
		// Only the output side of a problem describes merged states.
		capi.Problem_set_shape(p, int(outA.DType), batch, heads, heads, outA.Shape[3], outA.Shape[3], int64(qLen), 1)
		capi.Problem_set_strides(p, capi.SPARSA_BIND_OUT, int64(outA.Strides[0]), int64(outA.Strides[1]), int64(outA.Strides[2]))
		capi.Merge_states(c, p, outA.ptr, lses[0], outB.ptr, lses[1], out.ptr, lses[2])
	})
	runtime.KeepAlive([]any{outA.owner, outB.owner, out.owner, lseA, lseB, lse})
	return err
}
