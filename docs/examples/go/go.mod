module sparsa-example

go 1.19

require sparsa v0.0.0

// The bindings from this source tree; no module is downloaded.
replace sparsa => ../../../bindings/go
