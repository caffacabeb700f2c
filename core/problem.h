/* Problem validation and normalization (defaults made explicit). */
#ifndef SPARSA_CORE_PROBLEM_H
#define SPARSA_CORE_PROBLEM_H

#include <sparsa/sparsa.h>

/* The struct_size of the first release: anything smaller is rejected. */
#define SP_PROBLEM_MIN_SIZE ((uint32_t)sizeof(sparsa_problem))

/* Validate and copy into *norm with every default resolved: v_head_dim,
 * packed strides, lse strides, scale. Reads only caller->struct_size bytes
 * and defaults the rest. cu_seqlens pointers are copied as pointers. */
sparsa_status sp_problem_normalize(const sparsa_problem *caller, sparsa_problem *norm);

/* Bytes of one element of dtype. */
size_t sp_dtype_size(sparsa_dtype dtype);

#endif
