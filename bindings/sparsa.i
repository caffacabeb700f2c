/*
 * sparsa.i: the one SWIG interface of Python, Java and Go.
 *
 * It wraps the binding layer (common/sparsa_bind.h), whose functions return
 * their results directly and leave a status in a thread-local slot, and the
 * public enums. Each language branches only for two things: how a data
 * address (sparsa_bind_addr) arrives, and how a non-OK status becomes its
 * error. The idiomatic API of each language is written on top of this raw
 * module in that language (python/sparsa, java/src, go/).
 *
 * The module name is given per language on the command line (-module).
 */
%module sparsa

%{
#include "sparsa_bind.h"
#include "sparsa_bind_estimate.h"
#include "sparsa_bind_cache.h"
%}

%include <stdint.i>

/* The public headers mark exports for the compiler; SWIG needs nothing. */
#define SPARSA_API

/* Only the binding layer's functions are wrapped (the C API's
 * out-parameters do not map); its enums and constants come from the public
 * headers unchanged. The prefix is dropped: each language has a namespace. */
%rename("$ignore", %$isfunction, notregexmatch$name="^sparsa_bind_") "";
%rename("%(strip:[sparsa_bind_])s", %$isfunction, regexmatch$name="^sparsa_bind_") "";
%ignore sparsa_neighborhood;
%ignore sparsa_mask_desc;
%ignore sparsa_mask_info;
%ignore sparsa_api;
%ignore sparsa_estimator;
%ignore sparsa_head_info;
%ignore sparsa_search_options;
%ignore sparsa_cache_options;
%ignore sparsa_cache_key;
%ignore sparsa_cache_stats;

/* Queries of the status slot must not themselves raise on a failed status,
 * nor may destroy functions, which cannot fail and leave the slot alone. */
%define SPARSA_NO_STATUS_CHECK
%noexception sparsa_bind_last_status;
%noexception sparsa_bind_last_message;
%noexception sparsa_bind_status_string;
%noexception sparsa_bind_version;
%noexception sparsa_bind_context_destroy;
%noexception sparsa_bind_pattern_destroy;
%noexception sparsa_bind_patterns_destroy;
%noexception sparsa_bind_mask_destroy;
%noexception sparsa_bind_problem_destroy;
%noexception sparsa_bind_plan_destroy;
%noexception sparsa_bind_estimator_destroy;
%noexception sparsa_bind_config_destroy;
%noexception sparsa_bind_cache_destroy;
%noexception sparsa_bind_cache_entry_release;
%enddef

/* ------------------------------------------------------------------ Python */
#if defined(SWIGPYTHON)
%{
/* sparsa.SparsaError: RuntimeError with .status (int) and .message. */
static PyObject *sparsa_py_error = NULL;

static void sparsa_py_raise(void) {
  const sparsa_status status = sparsa_bind_last_status();
  const char *message = sparsa_bind_last_message();
  PyObject *exc = PyObject_CallFunction(sparsa_py_error, "s", sparsa_status_string(status));
  if (!exc) return;
  PyObject *text = PyUnicode_FromFormat("%s: %s", sparsa_status_string(status), message);
  PyObject *code = PyLong_FromLong((long)status);
  PyObject *detail = PyUnicode_FromString(message);
  if (text && code && detail) {
    PyObject *args = PyTuple_Pack(1, text);
    if (args) {
      PyObject_SetAttrString(exc, "args", args);
      Py_DECREF(args);
    }
    PyObject_SetAttrString(exc, "status", code);
    PyObject_SetAttrString(exc, "message", detail);
  }
  Py_XDECREF(text);
  Py_XDECREF(code);
  Py_XDECREF(detail);
  PyErr_SetObject(sparsa_py_error, exc);
  Py_DECREF(exc);
}
%}

%init %{
  sparsa_py_error = PyErr_NewException("sparsa.SparsaError", PyExc_RuntimeError, NULL);
  if (sparsa_py_error) PyDict_SetItemString(d, "SparsaError", sparsa_py_error);
%}
%pythoncode %{
SparsaError = _capi.SparsaError
%}

/* Addresses are ints (numpy, __cuda_array_interface__, DLPack), or None. */
%typemap(in) sparsa_bind_addr {
  if ($input == Py_None) {
    $1 = NULL;
  } else if (PyLong_Check($input)) {
    $1 = PyLong_AsVoidPtr($input);
    if (PyErr_Occurred()) SWIG_fail;
  } else {
    PyErr_SetString(PyExc_TypeError, "data address must be an int or None");
    SWIG_fail;
  }
}
%typemap(typecheck) sparsa_bind_addr = long;

%exception {
  $action
  if (sparsa_bind_last_status() != SPARSA_OK) {
    sparsa_py_raise();
    SWIG_fail;
  }
}
/* The engine works on caller memory only: other Python threads may run. */
%exception sparsa_bind_execute {
  Py_BEGIN_ALLOW_THREADS
  $action
  Py_END_ALLOW_THREADS
  if (sparsa_bind_last_status() != SPARSA_OK) {
    sparsa_py_raise();
    SWIG_fail;
  }
}
%exception sparsa_bind_merge_states {
  Py_BEGIN_ALLOW_THREADS
  $action
  Py_END_ALLOW_THREADS
  if (sparsa_bind_last_status() != SPARSA_OK) {
    sparsa_py_raise();
    SWIG_fail;
  }
}
SPARSA_NO_STATUS_CHECK

/* -------------------------------------------------------------------- Java */
#elif defined(SWIGJAVA)
%{
/* sparsa.SparsaException(int status, String message), unchecked. */
static void sparsa_java_throw(JNIEnv *jenv) {
  const sparsa_status status = sparsa_bind_last_status();
  jclass cls = (*jenv)->FindClass(jenv, "sparsa/SparsaException");
  if (!cls) return; /* NoClassDefFoundError is pending */
  jmethodID ctor = (*jenv)->GetMethodID(jenv, cls, "<init>", "(ILjava/lang/String;)V");
  jstring message = (*jenv)->NewStringUTF(jenv, sparsa_bind_last_message());
  if (ctor && message) {
    jobject exc = (*jenv)->NewObject(jenv, cls, ctor, (jint)status, message);
    if (exc) (*jenv)->Throw(jenv, (jthrowable)exc);
  }
}
%}

/* Enum values as int constants (SparsaCapiConstants): the Java layer has
 * its own enums where a type helps the caller. */
%include "enumsimple.swg"
/* The JNI library is loaded by the class that declares the natives. */
%pragma(java) jniclasscode=%{
  static {
    System.loadLibrary("sparsa_java");
  }
%}

/* Addresses are direct NIO buffers (zero-copy), or null. The Java layer
 * slices buffers so that their position is the start. */
%typemap(jni) sparsa_bind_addr "jobject"
%typemap(jtype) sparsa_bind_addr "java.nio.Buffer"
%typemap(jstype) sparsa_bind_addr "java.nio.Buffer"
%typemap(javain) sparsa_bind_addr "$javainput"
%typemap(in) sparsa_bind_addr {
  $1 = NULL;
  if ($input) {
    $1 = (*jenv)->GetDirectBufferAddress(jenv, $input);
    if (!$1) {
      SWIG_JavaThrowException(jenv, SWIG_JavaIllegalArgumentException,
                              "buffer must be a direct buffer");
      return $null;
    }
  }
}

%exception {
  $action
  if (sparsa_bind_last_status() != SPARSA_OK) {
    sparsa_java_throw(jenv);
    return $null;
  }
}
SPARSA_NO_STATUS_CHECK

/* ---------------------------------------------------------------------- Go */
#elif defined(SWIGGO)
/* Addresses are unsafe.Pointer; the Go layer passes slices' first elements
 * and keeps them alive across the call. Errors: Go has no exceptions, so
 * the Go layer reads the status slot right after each call, on the same OS
 * thread (runtime.LockOSThread). */
%insert(cgo_comment_typedefs) %{
typedef void *sparsa_bind_addr;
%}
%typemap(gotype) sparsa_bind_addr "unsafe.Pointer"
%typemap(imtype) sparsa_bind_addr "unsafe.Pointer"
%typemap(goin) sparsa_bind_addr "$result = $input"
%typemap(in) sparsa_bind_addr %{ $1 = *(void **)&$input; %}
#endif

%include "sparsa_common.h"
%include "sparsa_pattern.h"
%include "sparsa_mask.h"
%include "sparsa_estimator.h"
%include "sparsa_cache.h"
%include "sparsa_bind.h"
%include "sparsa_bind_estimate.h"
%include "sparsa_bind_cache.h"
