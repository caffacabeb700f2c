/* The binding layer is compiled into this package, as into the Python and
 * Java modules: its status slot belongs to the wrapper that reads it. */
#include "../../../common/sparsa_bind.c"
#include "../../../common/sparsa_bind_estimate.c"
#include "../../../common/sparsa_bind_cache.c"
#include "../../../common/sparsa_bind_layout.c"
