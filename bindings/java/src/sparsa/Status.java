package sparsa;

import sparsa.capi.SparsaCapi;
import sparsa.capi.SparsaCapiConstants;

/** Status codes of the library (sparsa_status); values never change. */
public enum Status {
  OK(SparsaCapiConstants.SPARSA_OK),
  INVALID_ARGUMENT(SparsaCapiConstants.SPARSA_ERR_INVALID_ARGUMENT),
  OUT_OF_MEMORY(SparsaCapiConstants.SPARSA_ERR_OUT_OF_MEMORY),
  UNSUPPORTED(SparsaCapiConstants.SPARSA_ERR_UNSUPPORTED),
  NO_DEVICE(SparsaCapiConstants.SPARSA_ERR_NO_DEVICE),
  DEVICE(SparsaCapiConstants.SPARSA_ERR_DEVICE),
  FORMAT(SparsaCapiConstants.SPARSA_ERR_FORMAT),
  IO(SparsaCapiConstants.SPARSA_ERR_IO),
  VERSION(SparsaCapiConstants.SPARSA_ERR_VERSION),
  INTERNAL(SparsaCapiConstants.SPARSA_ERR_INTERNAL),
  /** A code this version of the bindings does not know (a newer library). */
  UNKNOWN(-1);

  private final int code;

  Status(int code) {
    this.code = code;
  }

  /** The C value. */
  public int code() {
    return code;
  }

  /** The library's description ("invalid argument"). */
  public String description() {
    return SparsaCapi.status_string(code);
  }

  static Status of(int code) {
    for (Status s : values()) {
      if (s.code == code) {
        return s;
      }
    }
    return UNKNOWN;
  }
}
