/**
 * @file sparsa.h
 * @brief sparsa: head-specific sparse attention behind a stable C ABI.
 *
 * Include this one header. The data path is
 * patterns -> mask -> plan -> execute(q, k, v) -> out (+ lse).
 */
#ifndef SPARSA_H
#define SPARSA_H

#include "sparsa_common.h"
#include "sparsa_context.h"
#include "sparsa_problem.h"
#include "sparsa_pattern.h"
#include "sparsa_mask.h"
#include "sparsa_plan.h"
#include "sparsa_estimator.h"
#include "sparsa_cache.h"
#include "sparsa_api.h"

#endif /* SPARSA_H */
