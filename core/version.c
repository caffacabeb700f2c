/* Run-time version queries. */
#include <sparsa/sparsa.h>

SPARSA_API uint32_t sparsa_version_number(void) { return SPARSA_VERSION_NUMBER; }
SPARSA_API const char *sparsa_version_string(void) { return SPARSA_VERSION_STRING; }
