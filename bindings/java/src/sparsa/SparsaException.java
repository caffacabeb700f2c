package sparsa;

/**
 * A failure reported by the sparsa library: its status code and the
 * library's message naming the argument and the reason.
 *
 * <p>Unchecked, like {@link IllegalArgumentException}: a failing call is a
 * programming error or an environment fault, not a condition to declare.
 * Arguments the Java layer can check itself (shapes, buffers, closed
 * handles) raise {@link IllegalArgumentException} or
 * {@link IllegalStateException} before reaching the library.
 */
public class SparsaException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final Status status;
  private final String detail;

  /** Called from the JNI wrapper with the thread's status and message. */
  public SparsaException(int status, String message) {
    super(Status.of(status).description() + ": " + message);
    this.status = Status.of(status);
    this.detail = message;
  }

  /** The library's status. */
  public Status status() {
    return status;
  }

  /** The library's message alone, without the status. */
  public String detail() {
    return detail;
  }
}
