// Sparse attention from Go: a sink + window mask over slices (no copies),
// one output row checked against a plain Go computation.
package main

import (
	"fmt"
	"log"
	"math"
	"math/rand"

	"sparsa"
)

func main() {
	const qLen, kvLen, heads, dim = 256, 256, 4, 64
	rng := rand.New(rand.NewSource(0))
	random := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	qData, kData, vData := random(qLen*heads*dim), random(kvLen*heads*dim), random(kvLen*heads*dim)
	outData, lse := make([]float32, qLen*heads*dim), make([]float32, heads*qLen)
	tensor := func(data []float32, seq int) sparsa.Tensor {
		t, err := sparsa.NewTensor(data, [4]int{1, seq, heads, dim})
		if err != nil {
			log.Fatal(err)
		}
		return t
	}
	q, k, v, out := tensor(qData, qLen), tensor(kData, kvLen), tensor(vData, kvLen), tensor(outData, qLen)

	ctx, err := sparsa.NewContext()
	if err != nil {
		log.Fatal(err)
	}
	defer ctx.Close()
	pattern, err := sparsa.SinkWindow(4, 64) // 4 sink tokens + 64 recent ones
	if err != nil {
		log.Fatal(err)
	}
	defer pattern.Close()
	mask, err := sparsa.NewMask(ctx, []*sparsa.Pattern{pattern}, qLen, kvLen, 64, 64)
	if err != nil {
		log.Fatal(err)
	}
	defer mask.Close()
	density, _ := mask.Density(-1)
	fmt.Printf("sparsa %s, block density %.3f\n", sparsa.LibraryVersion(), density)
	if err := sparsa.Attention(ctx, q, k, v, mask, out, lse); err != nil {
		log.Fatal(err)
	}

	// Query 200 of head 1, by hand.
	const i, h = 200, 1
	w := make([]float64, kvLen)
	max := math.Inf(-1)
	for j := range w {
		w[j] = math.Inf(-1)
		if j <= i && (j < 4 || i-j < 64) {
			dot := 0.0
			for d := 0; d < dim; d++ {
				dot += float64(q.At(0, i, h, d)) * float64(k.At(0, j, h, d))
			}
			w[j] = dot / math.Sqrt(dim)
			max = math.Max(max, w[j])
		}
	}
	sum := 0.0
	for j := range w {
		w[j] = math.Exp(w[j] - max)
		sum += w[j]
	}
	worst := 0.0
	for d := 0; d < dim; d++ {
		want := 0.0
		for j := range w {
			want += w[j] / sum * float64(v.At(0, j, h, d))
		}
		worst = math.Max(worst, math.Abs(want-float64(out.At(0, i, h, d))))
	}
	fmt.Printf("query %d head %d: max |error| vs plain Go %.2e, lse %.4f\n", i, h, worst, lse[h*qLen+i])
	if worst > 1e-4 {
		log.Fatal("sparsa and the plain computation disagree")
	}
}
