package sparsa

import (
	"runtime"

	"sparsa/internal/capi"
)

// Method is an estimator's scoring method.
type Method int

// Estimator methods.
const (
	MethodPooledBlocks  Method = 0
	MethodAntidiagonal  Method = 1
	MethodVerticalSlash Method = 2
)

// Estimator holds the settings of a run-time estimator, which builds a
// mask from q and k. The zero value of each pointer field keeps the
// method's default.
type Estimator struct {
	Method         Method
	BlockQ         int
	BlockKV        int
	TopK           *int     // selects a fixed number per row
	Threshold      *float32 // selects by cumulative mass
	Stride         *int
	LastQ          *int
	KeepSinkBlocks *int
	KeepDiagonal   *bool
	Causal         *bool
}

// withNative runs f with the estimator and a q/k problem as library
// objects, inside one call (one OS thread) so that f's status is read.
func (e *Estimator) withNative(q, k Tensor, f func(capi.Struct_SS_sparsa_estimator, capi.Sparsa_problem)) error {
	if err := checkTensors(q, k, k, nil); err != nil {
		return err
	}
	return withProblem(q, k, k, nil, func(p capi.Sparsa_problem) {
		est := capi.Estimator_create(int(e.Method))
		if capi.Last_status() != capi.SPARSA_OK {
			return
		}
		defer capi.Estimator_destroy(est)
		set := func(field, value int) bool {
			capi.Estimator_set(est, field, value)
			return capi.Last_status() == capi.SPARSA_OK
		}
		flag := func(b bool) int {
			if b {
				return 1
			}
			return 0
		}
		if e.BlockQ != 0 && !set(capi.SPARSA_BIND_EST_BLOCK_Q, e.BlockQ) {
			return
		}
		if e.BlockKV != 0 && !set(capi.SPARSA_BIND_EST_BLOCK_KV, e.BlockKV) {
			return
		}
		if e.TopK != nil && (!set(capi.SPARSA_BIND_EST_SELECTION, int(capi.SPARSA_SELECT_TOP_K)) || !set(capi.SPARSA_BIND_EST_TOP_K, *e.TopK)) {
			return
		}
		if e.Threshold != nil {
			if !set(capi.SPARSA_BIND_EST_SELECTION, int(capi.SPARSA_SELECT_THRESHOLD)) {
				return
			}
			capi.Estimator_set_threshold(est, *e.Threshold)
		}
		for _, o := range []struct {
			field int
			value *int
		}{{capi.SPARSA_BIND_EST_STRIDE, e.Stride}, {capi.SPARSA_BIND_EST_LAST_Q, e.LastQ}, {capi.SPARSA_BIND_EST_KEEP_SINK_BLOCKS, e.KeepSinkBlocks}} {
			if o.value != nil && !set(o.field, *o.value) {
				return
			}
		}
		if e.KeepDiagonal != nil && !set(capi.SPARSA_BIND_EST_KEEP_DIAGONAL, flag(*e.KeepDiagonal)) {
			return
		}
		if e.Causal != nil && !set(capi.SPARSA_BIND_EST_CAUSAL, flag(*e.Causal)) {
			return
		}
		f(est, p)
	})
}

// Estimate builds a mask from q and k.
func (e *Estimator) Estimate(ctx *Context, q, k Tensor) (*Mask, error) {
	c, err := ctx.handle()
	if err != nil {
		return nil, err
	}
	var ptr capi.Struct_SS_sparsa_mask
	err = e.withNative(q, k, func(est capi.Struct_SS_sparsa_estimator, p capi.Sparsa_problem) {
		ptr = capi.Mask_estimate(c, est, p, q.ptr, k.ptr)
	})
	runtime.KeepAlive([]any{q.owner, k.owner})
	if err != nil {
		return nil, err
	}
	return &Mask{ptr: ptr, owned: true}, nil
}

// PatternConfig holds per-head patterns found by the offline search, kept
// in files.
type PatternConfig struct {
	ptr capi.Struct_SS_sparsa_pattern_config
}

// SearchPatterns finds, per head, the cheapest pattern capturing
// targetMass of q and k's attention.
func SearchPatterns(ctx *Context, q, k Tensor, targetMass float32, blockQ, blockKV int, causal bool) (*PatternConfig, error) {
	c, err := ctx.handle()
	if err != nil {
		return nil, err
	}
	if err := checkTensors(q, k, k, nil); err != nil {
		return nil, err
	}
	flag := 0
	if causal {
		flag = 1
	}
	var ptr capi.Struct_SS_sparsa_pattern_config
	err = withProblem(q, k, k, nil, func(p capi.Sparsa_problem) {
		ptr = capi.Pattern_search(c, p, q.ptr, k.ptr, targetMass, blockQ, blockKV, flag)
	})
	runtime.KeepAlive([]any{q.owner, k.owner})
	if err != nil {
		return nil, err
	}
	return &PatternConfig{ptr: ptr}, nil
}

// LoadPatternConfig reads a file written by Save.
func LoadPatternConfig(path string) (*PatternConfig, error) {
	var ptr capi.Struct_SS_sparsa_pattern_config
	if err := call(func() { ptr = capi.Config_load(path) }); err != nil {
		return nil, err
	}
	return &PatternConfig{ptr: ptr}, nil
}

func (c *PatternConfig) handle() (capi.Struct_SS_sparsa_pattern_config, error) {
	if c == nil || c.ptr == nil {
		return nil, closedError("PatternConfig")
	}
	return c.ptr, nil
}

// Save writes the config to a file.
func (c *PatternConfig) Save(path string) error {
	h, err := c.handle()
	if err != nil {
		return err
	}
	return call(func() { capi.Config_save(h, path) })
}

// NumHeads is the number of heads.
func (c *PatternConfig) NumHeads() (int, error) {
	h, err := c.handle()
	if err != nil {
		return 0, err
	}
	var n int
	err = call(func() { n = capi.Config_num_heads(h) })
	return n, err
}

// HeadKind is the sparsa_head_kind value of one head.
func (c *PatternConfig) HeadKind(head int) (int, error) {
	h, err := c.handle()
	if err != nil {
		return 0, err
	}
	var kind int
	err = call(func() { kind = capi.Config_head_kind(h, head) })
	return kind, err
}

// Mask applies the per-head patterns at these lengths.
func (c *PatternConfig) Mask(ctx *Context, qLen, kvLen int64) (*Mask, error) {
	h, err := c.handle()
	if err != nil {
		return nil, err
	}
	cx, err := ctx.handle()
	if err != nil {
		return nil, err
	}
	var ptr capi.Struct_SS_sparsa_mask
	if err := call(func() { ptr = capi.Config_mask(cx, h, qLen, kvLen) }); err != nil {
		return nil, err
	}
	return &Mask{ptr: ptr, owned: true}, nil
}

// Close releases the config; closing twice is a no-op.
func (c *PatternConfig) Close() error {
	if c != nil && c.ptr != nil {
		capi.Config_destroy(c.ptr)
		c.ptr = nil
	}
	return nil
}
