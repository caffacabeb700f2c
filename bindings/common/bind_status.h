/*
 * Internal to the binding layer: the thread-local status slot that every
 * sparsa_bind_* function writes (sparsa_bind.c owns it).
 */
#ifndef SPARSA_BIND_STATUS_H
#define SPARSA_BIND_STATUS_H

#include "sparsa.h"

/* Records the status of the C call just made and returns it. */
sparsa_status sparsa_bind_record(sparsa_status status);
/* Records an argument this layer rejects itself, with its own message. */
void sparsa_bind_reject(const char *message);

/* Whether the problem's output and lse strides keep every element apart;
 * rejects the call (status and message) where they do not. */
int sparsa_bind_outputs_apart(const sparsa_problem *p);

/* Runs one pattern constructor and keeps its status. */
#define PATTERN_CALL(expr)              \
  do {                                  \
    sparsa_pattern *pattern = NULL;     \
    sparsa_bind_record(expr);           \
    return pattern;                     \
  } while (0)

#endif /* SPARSA_BIND_STATUS_H */
