package sparsa;

/**
 * Owner of one library handle: {@link #close()} releases it (once; later
 * calls do nothing) and any use after that throws
 * {@link IllegalStateException} instead of reaching freed memory.
 *
 * <p>Not thread-safe against {@code close()}: close a handle only when no
 * other thread uses it, as for any AutoCloseable resource.
 */
abstract class NativeHandle<T> implements AutoCloseable {
  private T ptr;

  NativeHandle(T ptr) {
    this.ptr = ptr;
  }

  /** The live handle. */
  final T handle() {
    if (ptr == null) {
      throw new IllegalStateException(getClass().getSimpleName() + " is closed");
    }
    return ptr;
  }

  /** Whether {@link #close()} has run. */
  public final boolean isClosed() {
    return ptr == null;
  }

  abstract void destroy(T ptr);

  @Override
  public final void close() {
    T p = ptr;
    ptr = null;
    if (p != null) {
      destroy(p);
    }
  }
}
