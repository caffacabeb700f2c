package sparsa

import (
	"math"
	"testing"
)

// The conformance inputs and a naive float64 attention
// (bindings/CONFORMANCE.md).

func lcg(seed uint32, n int) []float32 {
	out := make([]float32, n)
	state := seed
	for i := range out {
		state = state*1664525 + 1013904223
		out[i] = float32(float64(state>>8)/16777216.0*2.0 - 1.0)
	}
	return out
}

func mustTensor(t *testing.T, data []float32, shape [4]int) Tensor {
	t.Helper()
	tensor, err := NewTensor(data, shape)
	if err != nil {
		t.Fatal(err)
	}
	return tensor
}

// qkv returns packed q, k, v filled by the cross-language generator.
func qkv(t *testing.T, batch, qLen, kvLen, qHeads, kvHeads, dim int) (Tensor, Tensor, Tensor) {
	return mustTensor(t, lcg(1, batch*qLen*qHeads*dim), [4]int{batch, qLen, qHeads, dim}),
		mustTensor(t, lcg(2, batch*kvLen*kvHeads*dim), [4]int{batch, kvLen, kvHeads, dim}),
		mustTensor(t, lcg(3, batch*kvLen*kvHeads*dim), [4]int{batch, kvLen, kvHeads, dim})
}

func outputs(t *testing.T, q, v Tensor) (Tensor, []float32) {
	s := [4]int{q.Shape[0], q.Shape[1], q.Shape[2], v.Shape[3]}
	return mustTensor(t, make([]float32, s[0]*s[1]*s[2]*s[3]), s), make([]float32, s[0]*s[2]*s[1])
}

type visibleFunc func(h, i, j int) bool

// naive returns out (packed [b, i, h, d]) and lse ([b, h, i]).
func naive(q, k, v Tensor, visible visibleFunc) ([]float64, []float64) {
	batch, qLen, heads, dim := q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
	kvLen, group, dv := k.Shape[1], q.Shape[2]/k.Shape[2], v.Shape[3]
	scale := 1 / math.Sqrt(float64(dim))
	out := make([]float64, batch*qLen*heads*dv)
	lse := make([]float64, batch*heads*qLen)
	s := make([]float64, kvLen)
	for b := 0; b < batch; b++ {
		for h := 0; h < heads; h++ {
			for i := 0; i < qLen; i++ {
				max := math.Inf(-1)
				for j := 0; j < kvLen; j++ {
					s[j] = math.Inf(-1)
					if visible(h, i, j) {
						dot := 0.0
						for d := 0; d < dim; d++ {
							dot += float64(q.At(b, i, h, d)) * float64(k.At(b, j, h/group, d))
						}
						s[j] = scale * dot
						max = math.Max(max, s[j])
					}
				}
				row := (b*heads+h)*qLen + i
				if math.IsInf(max, -1) {
					lse[row] = max
					continue
				}
				sum := 0.0
				for j := range s {
					s[j] = math.Exp(s[j] - max)
					sum += s[j]
				}
				lse[row] = math.Log(sum) + max
				for d := 0; d < dv; d++ {
					acc := 0.0
					for j := 0; j < kvLen; j++ {
						acc += s[j] * float64(v.At(b, j, h/group, d))
					}
					out[((b*qLen+i)*heads+h)*dv+d] = acc / sum
				}
			}
		}
	}
	return out, lse
}

func check(t *testing.T, out Tensor, lse []float32, refOut, refLse []float64) {
	t.Helper()
	n := 0
	for b := 0; b < out.Shape[0]; b++ {
		for i := 0; i < out.Shape[1]; i++ {
			for h := 0; h < out.Shape[2]; h++ {
				for d := 0; d < out.Shape[3]; d++ {
					got := float64(out.At(b, i, h, d))
					if math.IsNaN(got) || math.Abs(got-refOut[n]) > 1e-4 {
						t.Fatalf("out[%d,%d,%d,%d] = %g, want %g", b, i, h, d, got, refOut[n])
					}
					n++
				}
			}
		}
	}
	for r, want := range refLse {
		got := float64(lse[r])
		if math.IsInf(want, -1) != math.IsInf(got, -1) || (!math.IsInf(want, -1) && math.Abs(got-want) > 1e-4) {
			t.Fatalf("lse[%d] = %g, want %g", r, got, want)
		}
	}
}
