package sparsa

import "sparsa/internal/capi"

// Engine is a compute engine.
type Engine int

// CPU is the host engine. Go passes host memory (slices), so its contexts
// are CPU contexts; device memory is reached from Python or the C API.
const CPU Engine = 0

// Context is an engine context; every mask and plan belongs to one. Close
// it after the masks and plans made from it.
type Context struct {
	ptr capi.Sparsa_context
}

// NewContext is a CPU context.
func NewContext() (*Context, error) { return NewEngineContext(CPU, 0) }

// NewEngineContext is a context of an engine and device (0 for the CPU).
func NewEngineContext(engine Engine, device int) (*Context, error) {
	var ptr capi.Sparsa_context
	if err := call(func() { ptr = capi.Context_create(int(engine), device) }); err != nil {
		return nil, err
	}
	return &Context{ptr: ptr}, nil
}

func (c *Context) handle() (capi.Sparsa_context, error) {
	if c == nil || c.ptr == nil {
		return nil, closedError("Context")
	}
	return c.ptr, nil
}

// SetNumThreads sets the worker threads of execute calls (0: the default).
func (c *Context) SetNumThreads(n int) error {
	h, err := c.handle()
	if err != nil {
		return err
	}
	return call(func() { capi.Context_set_num_threads(h, n) })
}

// NumThreads is the number of worker threads.
func (c *Context) NumThreads() (int, error) {
	h, err := c.handle()
	if err != nil {
		return 0, err
	}
	var n int
	err = call(func() { n = capi.Context_num_threads(h) })
	return n, err
}

// KernelPath names the kernels the context runs: the CPU instruction-set
// path ("amxbf16", "avx512bf16", "avx512", "avx2", "generic"; the environment variable
// SPARSA_CPU_ISA picks one) or the CUDA device code ("sm_90a", "sm_80").
func (c *Context) KernelPath() (string, error) {
	h, err := c.handle()
	if err != nil {
		return "", err
	}
	var path string
	err = call(func() { path = capi.Context_kernel_path(h) })
	return path, err
}

// Close releases the context; closing twice is a no-op.
func (c *Context) Close() error {
	if c != nil && c.ptr != nil {
		capi.Context_destroy(c.ptr)
		c.ptr = nil
	}
	return nil
}
