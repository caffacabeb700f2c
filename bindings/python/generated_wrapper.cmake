# SWIG's output for the Python module, kept for machines without SWIG.
#
# Where SWIG runs, `cmake --build <build> --target sparsa_python_generated`
# copies the wrapper (capi_wrap.c) and its Python half (capi.py) into
# bindings/python/generated/ with a stamp: a digest of every SWIG input.
# A build without SWIG compiles that wrapper instead, if the stamp matches
# the inputs it has (a stale wrapper is refused, not compiled). The folder
# is not version-controlled: it is carried to such a machine by hand.
#
# Included, it defines sparsa_swig_inputs_digest(). As a script
# (cmake -DSTAMP=<file> -DINPUTS=<a|b|...> -DSWIG_VERSION=<v> -P <this>),
# it writes the stamp of those inputs.

# Digest of the inputs' names and contents, independent of where the
# source tree lies and of the order the inputs are listed in.
function(sparsa_swig_inputs_digest out_var)
  set(lines)
  foreach(input IN LISTS ARGN)
    file(SHA256 "${input}" digest)
    get_filename_component(name "${input}" NAME)
    list(APPEND lines "${name}=${digest}")
  endforeach()
  list(SORT lines)
  string(SHA256 all "${lines}")
  set(${out_var} "${all}" PARENT_SCOPE)
endfunction()

# The digest a stamp file records ("" if there is none).
function(sparsa_swig_stamp_digest stamp out_var)
  set(digest "")
  if(EXISTS "${stamp}")
    file(STRINGS "${stamp}" line REGEX "^inputs [0-9a-f]+$")
    string(REGEX REPLACE "^inputs " "" digest "${line}")
  endif()
  set(${out_var} "${digest}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND DEFINED STAMP)
  string(REPLACE "|" ";" inputs "${INPUTS}")
  sparsa_swig_inputs_digest(digest ${inputs})
  file(WRITE "${STAMP}" "inputs ${digest}\nswig ${SWIG_VERSION}\n")
endif()
