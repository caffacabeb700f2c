package sparsa

import (
	"fmt"
	"unsafe"
)

// DType is the element type of a tensor.
type DType int

// Element types.
const (
	F32  DType = 0
	F16  DType = 1
	BF16 DType = 2
)

// Tensor is a [batch, seq, heads, dim] view of a slice, used in place.
// Strides are in elements over (batch, seq, heads); the head dim is always
// contiguous.
type Tensor struct {
	ptr     unsafe.Pointer
	owner   any // the slice: referenced so that it outlives every call using it
	elems   int
	DType   DType
	Shape   [4]int
	Strides [4]int
}

// NewTensor views float32 data as a packed tensor of the given shape.
func NewTensor(data []float32, shape [4]int) (Tensor, error) {
	if len(data) == 0 {
		return Tensor{}, fmt.Errorf("sparsa: tensor data is empty")
	}
	return Tensor{ptr: unsafe.Pointer(&data[0]), owner: data, elems: len(data), DType: F32}.
		View(shape, packed(shape))
}

// NewHalfTensor views 16-bit data (F16 or BF16 bit patterns) as a packed tensor.
func NewHalfTensor(data []uint16, dtype DType, shape [4]int) (Tensor, error) {
	if dtype != F16 && dtype != BF16 {
		return Tensor{}, fmt.Errorf("sparsa: NewHalfTensor: dtype must be F16 or BF16")
	}
	if len(data) == 0 {
		return Tensor{}, fmt.Errorf("sparsa: tensor data is empty")
	}
	return Tensor{ptr: unsafe.Pointer(&data[0]), owner: data, elems: len(data), DType: dtype}.
		View(shape, packed(shape))
}

func packed(shape [4]int) [3]int {
	return [3]int{shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3]}
}

// View is the same data with another shape and element strides over
// (batch, seq, heads): BHSD storage, interleaved q/k/v, padded rows.
func (t Tensor) View(shape [4]int, strides [3]int) (Tensor, error) {
	extent := 1
	for a := 0; a < 4; a++ {
		stride := 1
		if a < 3 {
			stride = strides[a]
		}
		if shape[a] < 1 || stride < 0 {
			return Tensor{}, fmt.Errorf("sparsa: tensor shape %v, strides %v: extents must be >= 1 and strides >= 0", shape, strides)
		}
		extent += (shape[a] - 1) * stride
	}
	if extent > t.elems {
		return Tensor{}, fmt.Errorf("sparsa: tensor of shape %v and strides %v needs %d elements, its slice has %d", shape, strides, extent, t.elems)
	}
	t.Shape = shape
	t.Strides = [4]int{strides[0], strides[1], strides[2], 1}
	return t, nil
}

// At is element (b, s, h, d) of a float32 tensor; it panics on other
// element types, like an index out of range.
func (t Tensor) At(b, s, h, d int) float32 {
	data, ok := t.owner.([]float32)
	if !ok {
		panic(fmt.Sprintf("sparsa: Tensor.At on a tensor of dtype %d, not F32", t.DType))
	}
	return data[b*t.Strides[0]+s*t.Strides[1]+h*t.Strides[2]+d]
}

func (t Tensor) sameLayout(o Tensor) bool {
	return t.DType == o.DType && t.Shape == o.Shape && t.Strides == o.Strides
}

// lseAddress checks a packed [batch, heads, q_len] lse slice.
func lseAddress(lse []float32, batch, heads, qLen int) (unsafe.Pointer, error) {
	if lse == nil {
		return nil, nil
	}
	if need := batch * heads * qLen; len(lse) < need {
		return nil, fmt.Errorf("sparsa: lse needs %d floats ([%d, %d, %d]), has %d", need, batch, heads, qLen, len(lse))
	}
	return unsafe.Pointer(&lse[0]), nil
}
