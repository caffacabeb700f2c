/* Two block lists of one mask built two ways, compared with Check
 * assertions that name both builds. Runs may legitimately split
 * differently between builders ("neighbours of one class need not be
 * joined", block_list.h), so there are two strengths of comparison. */
#ifndef SPARSA_TESTS_PATTERNS_LIST_COMPARE_H
#define SPARSA_TESTS_PATTERNS_LIST_COMPARE_H

#include "block_list.h"

/* The same runs, run for run, and the same counts. */
void list_compare_runs(const sp_block_list *a, const sp_block_list *b, const char *what,
                       const char *a_name, const char *b_name);

/* The same blocks of the same classes in every row, and the same counts. */
void list_compare_blocks(const sp_block_list *a, const sp_block_list *b, const char *what,
                         const char *a_name, const char *b_name);

#endif
