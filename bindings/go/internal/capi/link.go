// Package capi is the SWIG-generated layer under package sparsa; it is
// internal because its functions report errors through a thread-local
// status that only package sparsa reads correctly.
//
// Headers and the library are found through CGO_CFLAGS and CGO_LDFLAGS
// (the build sets them; see bindings/CMakeLists.txt), or the system paths
// once sparsa is installed.
package capi

// #cgo LDFLAGS: -lsparsa
import "C"
