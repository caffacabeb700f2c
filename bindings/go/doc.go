// Package sparsa is head-specific sparse attention through the sparsa C
// library.
//
// Tensors are Go slices viewed as [batch, seq, heads, dim] with element
// strides (see Tensor); the library reads and writes them in place. Every
// handle (Context, Pattern, Mask, Plan, PatternConfig, Cache, CacheEntry)
// is released by Close, after which its methods return an error wrapping
// ErrClosed. Failures of the library are returned as *Error, carrying the
// library's Status and message.
//
//	ctx, err := sparsa.NewContext()
//	...
//	defer ctx.Close()
//	p, _ := sparsa.SinkWindow(4, 64)
//	mask, _ := sparsa.NewMask(ctx, []*sparsa.Pattern{p}, qLen, kvLen, 64, 64)
//	err = sparsa.Attention(ctx, q, k, v, mask, out, lse)
//
// Building: cgo needs the headers and libsparsa (CGO_CFLAGS and CGO_LDFLAGS
// point at a build tree, or sparsa is installed) and SWIG, which the go
// tool runs on internal/capi.
package sparsa
