/* Finding and loading the CUDA engine plugin. libsparsa has no link-time
 * CUDA dependency: the plugin is dlopen'ed on the first CUDA context, from
 * $SPARSA_CUDA_ENGINE or from the directory libsparsa itself was loaded
 * from. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "block_list.h"
#include "engine.h"
#include "error.h"

#define SP_CUDA_PLUGIN_NAME "libsparsa_cuda.so.0"

static pthread_mutex_t sp_loader_lock = PTHREAD_MUTEX_INITIALIZER;
static const sp_engine_ops *sp_loaded_ops;  /* the plugin stays loaded for the process */

static void sp_host_set_error(const char *text) { sp_set_error_text(text); }

static const sp_host_services sp_host = {
    sizeof(sp_host_services), sp_host_set_error, sp_malloc, sp_free, sp_block_list_csr,
};

/* Directory of the object that holds this function (libsparsa.so, or the
 * executable for static builds). */
static int sp_own_directory(char *dir, size_t cap) {
  Dl_info info;
  if (dladdr((void *)&sp_own_directory, &info) == 0 || info.dli_fname == NULL) return 0;
  const char *slash = strrchr(info.dli_fname, '/');
  if (slash == NULL) return 0;
  size_t len = (size_t)(slash - info.dli_fname);
  if (len + 1 > cap) return 0;
  memcpy(dir, info.dli_fname, len);
  dir[len] = '\0';
  return 1;
}

static sparsa_status sp_load_plugin(const char *path, const sp_engine_ops **out) {
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    return sp_fail(SPARSA_ERR_NO_DEVICE, "CUDA engine: cannot load %s: %s", path, dlerror());
  sp_engine_entry_fn entry = (sp_engine_entry_fn)dlsym(handle, "sparsa_cuda_engine_entry");
  if (entry == NULL) {
    dlclose(handle);
    return sp_fail(SPARSA_ERR_NO_DEVICE, "CUDA engine: %s has no sparsa_cuda_engine_entry", path);
  }
  sparsa_status status = entry(SP_ENGINE_INTERFACE_VERSION, &sp_host, out);
  if (status != SPARSA_OK) dlclose(handle); /* the entry recorded the reason */
  return status;
}

sparsa_status sp_cuda_engine(const sp_engine_ops **out) {
  pthread_mutex_lock(&sp_loader_lock);
  sparsa_status status = SPARSA_OK;
  if (sp_loaded_ops == NULL) {
    char path[PATH_MAX];
    char dir[PATH_MAX];
    const char *env = getenv("SPARSA_CUDA_ENGINE");
    int length;
    if (env != NULL && env[0] != '\0')
      length = snprintf(path, sizeof path, "%s", env);
    else if (sp_own_directory(dir, sizeof dir - sizeof SP_CUDA_PLUGIN_NAME - 1))
      length = snprintf(path, sizeof path, "%s/" SP_CUDA_PLUGIN_NAME, dir);
    else
      length = snprintf(path, sizeof path, SP_CUDA_PLUGIN_NAME);
    if (length < 0 || (size_t)length >= sizeof path) {
      pthread_mutex_unlock(&sp_loader_lock);
      return sp_fail(SPARSA_ERR_NO_DEVICE, "CUDA engine: the plugin path is longer than %d bytes",
                     (int)sizeof path - 1);
    }
    status = sp_load_plugin(path, &sp_loaded_ops);
  }
  *out = sp_loaded_ops;
  pthread_mutex_unlock(&sp_loader_lock);
  return status;
}
