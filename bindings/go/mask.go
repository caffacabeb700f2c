package sparsa

import "sparsa/internal/capi"

// Alignment is where relative patterns put the diagonal.
type Alignment int

// Alignments.
const (
	BottomRight Alignment = 0
	TopLeft     Alignment = 1
)

// Mask lists, per head, the (query block, key block) pairs to compute.
// Immutable; plans keep their own reference.
type Mask struct {
	ptr   capi.Struct_SS_sparsa_mask
	owned bool // false for a cache entry's mask, which the entry owns
}

// BSR is one head's blocks; columns are sorted within each row.
type BSR struct {
	RowPtr []int64
	ColIdx []int32
	IsFull []bool
}

// NewMask applies one pattern per query head (or one for all) at the given
// lengths and block sizes, bottom-right aligned.
func NewMask(ctx *Context, perHead []*Pattern, qLen, kvLen int64, blockQ, blockKV int) (*Mask, error) {
	return NewAlignedMask(ctx, perHead, qLen, kvLen, blockQ, blockKV, BottomRight)
}

// NewAlignedMask is NewMask with an explicit alignment.
func NewAlignedMask(ctx *Context, perHead []*Pattern, qLen, kvLen int64, blockQ, blockKV int, align Alignment) (*Mask, error) {
	c, err := ctx.handle()
	if err != nil {
		return nil, err
	}
	var ptr capi.Struct_SS_sparsa_mask
	err = patternList(perHead, func(l capi.Struct_SS_sparsa_bind_patterns) {
		ptr = capi.Mask_create(c, l, qLen, kvLen, blockQ, blockKV, int(align))
	})
	if err != nil {
		return nil, err
	}
	return &Mask{ptr: ptr, owned: true}, nil
}

func (m *Mask) handle() (capi.Struct_SS_sparsa_mask, error) {
	if m == nil || m.ptr == nil {
		return nil, closedError("Mask")
	}
	return m.ptr, nil
}

func (m *Mask) info(field int) (int64, error) {
	h, err := m.handle()
	if err != nil {
		return 0, err
	}
	var v int64
	err = call(func() { v = capi.Mask_info(h, field) })
	return v, err
}

// NumHeads is the number of heads with their own pattern (1: shared).
func (m *Mask) NumHeads() (int, error) {
	n, err := m.info(capi.SPARSA_BIND_INFO_NUM_HEADS)
	return int(n), err
}

// Density is the fraction of block pairs computed (head -1: the mean).
func (m *Mask) Density(head int) (float64, error) {
	h, err := m.handle()
	if err != nil {
		return 0, err
	}
	var d float64
	err = call(func() { d = capi.Mask_density(h, head) })
	return d, err
}

// ExportBSR is one head's block structure.
func (m *Mask) ExportBSR(head int) (BSR, error) {
	h, err := m.handle()
	if err != nil {
		return BSR{}, err
	}
	rows, err := m.info(capi.SPARSA_BIND_INFO_NUM_Q_BLOCKS)
	if err != nil {
		return BSR{}, err
	}
	var n int64
	if err := call(func() { n = capi.Mask_num_blocks(h, head) }); err != nil {
		return BSR{}, err
	}
	rowPtr := make([]int64, rows+1)
	colIdx := make([]int32, n+1) // +1: never an empty slice to take the address of
	full := make([]uint8, n+1)
	if err := call(func() { capi.Mask_export_bsr(h, head, addr(rowPtr), addr(colIdx), addr(full), n+1) }); err != nil {
		return BSR{}, err
	}
	out := BSR{RowPtr: rowPtr, ColIdx: colIdx[:n], IsFull: make([]bool, n)}
	for i := range out.IsFull {
		out.IsFull[i] = full[i] != 0
	}
	return out, nil
}

// Close releases the mask; closing twice is a no-op.
func (m *Mask) Close() error {
	if m != nil && m.ptr != nil {
		if m.owned {
			capi.Mask_destroy(m.ptr)
		}
		m.ptr = nil
	}
	return nil
}
