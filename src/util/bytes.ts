/** Byte-buffer helpers shared by the cores and the adapters. */

/**
 * A copy of `view` that owns its bytes (from Node's Buffer pool when small, as Node's own small allocations), for
 * keeping bytes of a buffer that is about to be reused.
 */
export function copyOf(view: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafe(view.length);
  copy.set(view, 0);
  return copy;
}
