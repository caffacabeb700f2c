# Writes the .java files under DIR to OUT, one quoted path per line: the
# @file form javac reads, for sources whose names SWIG decides.
file(GLOB_RECURSE sources "${DIR}/*.java")
list(SORT sources)
set(text "")
foreach(source IN LISTS sources)
  string(APPEND text "\"${source}\"\n")
endforeach()
file(WRITE "${OUT}" "${text}")
