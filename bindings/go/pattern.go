package sparsa

import (
	"fmt"
	"unsafe"

	"sparsa/internal/capi"
)

// Unbounded is the "no limit" extent of window-like parameters.
const Unbounded = int64(^uint64(0) >> 1)

// Pattern is a token-level rule saying which keys each query sees;
// immutable. Masks and unions keep their own reference, so a pattern may be
// closed as soon as it has been used.
type Pattern struct {
	ptr capi.Struct_SS_sparsa_pattern
}

func newPattern(f func() capi.Struct_SS_sparsa_pattern) (*Pattern, error) {
	var ptr capi.Struct_SS_sparsa_pattern
	if err := call(func() { ptr = f() }); err != nil {
		return nil, err
	}
	return &Pattern{ptr: ptr}, nil
}

// Dense: every key.
func Dense() (*Pattern, error) { return newPattern(capi.Pattern_dense) }

// NoKeys: no key (the head's output is 0, its lse -inf).
func NoKeys() (*Pattern, error) { return newPattern(capi.Pattern_none) }

// Causal: keys at or before the aligned query position.
func Causal() (*Pattern, error) { return newPattern(capi.Pattern_causal) }

// Window: keys with -right <= d <= left, d = aligned query position - key.
func Window(left, right int64) (*Pattern, error) {
	return newPattern(func() capi.Struct_SS_sparsa_pattern { return capi.Pattern_window(left, right) })
}

// SinkWindow: causal; the first sink keys and the last window keys.
func SinkWindow(sink, window int64) (*Pattern, error) {
	return newPattern(func() capi.Struct_SS_sparsa_pattern { return capi.Pattern_sink_window(sink, window) })
}

// Dilated: a window keeping every dilation-th distance.
func Dilated(left, right, dilation int64) (*Pattern, error) {
	return newPattern(func() capi.Struct_SS_sparsa_pattern { return capi.Pattern_dilated(left, right, dilation) })
}

// addr is the address of a slice's first element, or nil when it is empty.
func addr[T any](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

// Global: global tokens see and are seen by every token.
func Global(tokens []int64) (*Pattern, error) {
	return newPattern(func() capi.Struct_SS_sparsa_pattern {
		return capi.Pattern_global(addr(tokens), int64(len(tokens)))
	})
}

// BlocksBSR: tiles listed in BSR form; row r lists colIdx[rowPtr[r]:rowPtr[r+1]].
func BlocksBSR(blockRows, blockCols int, rowPtr []int64, colIdx []int32) (*Pattern, error) {
	if len(rowPtr) < 1 {
		return nil, fmt.Errorf("sparsa: BlocksBSR: rowPtr needs at least one entry")
	}
	if last := rowPtr[len(rowPtr)-1]; last > int64(len(colIdx)) {
		return nil, fmt.Errorf("sparsa: BlocksBSR: rowPtr ends at %d but colIdx has %d entries", last, len(colIdx))
	}
	return newPattern(func() capi.Struct_SS_sparsa_pattern {
		return capi.Pattern_blocks_bsr(blockRows, blockCols, int64(len(rowPtr)-1), addr(rowPtr), addr(colIdx))
	})
}

// BlocksBitmap: tile (r, c) is listed iff bitmap[r][c].
func BlocksBitmap(blockRows, blockCols int, bitmap [][]bool) (*Pattern, error) {
	rows, cols := len(bitmap), 0
	if rows > 0 {
		cols = len(bitmap[0])
	}
	bytes := make([]uint8, rows*cols)
	for r, row := range bitmap {
		if len(row) != cols {
			return nil, fmt.Errorf("sparsa: BlocksBitmap: rows differ in length")
		}
		for c, on := range row {
			if on {
				bytes[r*cols+c] = 1
			}
		}
	}
	return newPattern(func() capi.Struct_SS_sparsa_pattern {
		return capi.Pattern_blocks_bitmap(blockRows, blockCols, int64(rows), int64(cols), addr(bytes))
	})
}

// VerticalSlash: causal; listed key columns and diagonal offsets.
func VerticalSlash(columns, offsets []int64) (*Pattern, error) {
	return newPattern(func() capi.Struct_SS_sparsa_pattern {
		return capi.Pattern_vertical_slash(addr(columns), int64(len(columns)), addr(offsets), int64(len(offsets)))
	})
}

// Neighborhood: NATTEN-style neighborhood on a 1-D to 3-D grid; dilation
// and causal may be nil (1 and false on every axis).
func Neighborhood(extent, kernel, dilation []int64, causal []bool) (*Pattern, error) {
	n := len(extent)
	if n < 1 || n > 3 || len(kernel) != n || (dilation != nil && len(dilation) != n) || (causal != nil && len(causal) != n) {
		return nil, fmt.Errorf("sparsa: Neighborhood: 1 to 3 axes, the same count in every slice")
	}
	e, k, d, c := [3]int64{1, 1, 1}, [3]int64{1, 1, 1}, [3]int64{1, 1, 1}, [3]int{}
	for a := 0; a < n; a++ {
		e[a], k[a] = extent[a], kernel[a]
		if dilation != nil {
			d[a] = dilation[a]
		}
		if causal != nil && causal[a] {
			c[a] = 1
		}
	}
	return newPattern(func() capi.Struct_SS_sparsa_pattern {
		return capi.Pattern_neighborhood(n, e[0], e[1], e[2], k[0], k[1], k[2], d[0], d[1], d[2], c[0], c[1], c[2])
	})
}

// Radial: a spatial band shrinking with frame distance (video).
func Radial(frameTokens, window, maxFrames int64) (*Pattern, error) {
	return newPattern(func() capi.Struct_SS_sparsa_pattern { return capi.Pattern_radial(frameTokens, window, maxFrames) })
}

// Power: causal; a local window plus power-of-two distances.
func Power(local int64) (*Pattern, error) {
	return newPattern(func() capi.Struct_SS_sparsa_pattern { return capi.Pattern_power(local) })
}

// patternList runs f with the patterns as a borrowed C list.
func patternList(patterns []*Pattern, f func(capi.Struct_SS_sparsa_bind_patterns)) error {
	handles := make([]capi.Struct_SS_sparsa_pattern, len(patterns))
	for i, p := range patterns {
		h, err := p.handle()
		if err != nil {
			return err
		}
		handles[i] = h
	}
	return call(func() {
		list := capi.Patterns_create()
		if capi.Last_status() != capi.SPARSA_OK {
			return
		}
		defer capi.Patterns_destroy(list)
		for _, h := range handles {
			if capi.Patterns_push(list, h); capi.Last_status() != capi.SPARSA_OK {
				return
			}
		}
		f(list)
	})
}

// Union: visible iff visible in any part.
func Union(parts ...*Pattern) (*Pattern, error) {
	var ptr capi.Struct_SS_sparsa_pattern
	if err := patternList(parts, func(l capi.Struct_SS_sparsa_bind_patterns) { ptr = capi.Pattern_union(l) }); err != nil {
		return nil, err
	}
	return &Pattern{ptr: ptr}, nil
}

// Intersection: visible iff visible in every part.
func Intersection(parts ...*Pattern) (*Pattern, error) {
	var ptr capi.Struct_SS_sparsa_pattern
	if err := patternList(parts, func(l capi.Struct_SS_sparsa_bind_patterns) { ptr = capi.Pattern_intersection(l) }); err != nil {
		return nil, err
	}
	return &Pattern{ptr: ptr}, nil
}

func (p *Pattern) handle() (capi.Struct_SS_sparsa_pattern, error) {
	if p == nil || p.ptr == nil {
		return nil, closedError("Pattern")
	}
	return p.ptr, nil
}

// Kind is the sparsa_pattern_kind value of the pattern.
func (p *Pattern) Kind() (int, error) {
	h, err := p.handle()
	if err != nil {
		return 0, err
	}
	var kind int
	err = call(func() { kind = capi.Pattern_kind(h) })
	return kind, err
}

// IsVisible reports whether query i sees key j at these lengths
// (bottom-right alignment).
func (p *Pattern) IsVisible(qLen, kvLen, i, j int64) (bool, error) {
	h, err := p.handle()
	if err != nil {
		return false, err
	}
	var v int
	err = call(func() { v = capi.Pattern_is_visible(h, qLen, kvLen, 0, i, j) })
	return v != 0, err
}

// Close releases the caller's reference; closing twice is a no-op.
func (p *Pattern) Close() error {
	if p != nil && p.ptr != nil {
		capi.Pattern_destroy(p.ptr)
		p.ptr = nil
	}
	return nil
}
