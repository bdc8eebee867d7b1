/**
 * The process-wide buffer the server's sockets read into (node/socket-reads.ts): one 64 KiB buffer shared by
 * every socket, since a read's bytes are handed on (parsed, copied or unmasked) before the next read lands.
 *
 * It is the masking kernel's in-place page (util/mask.ts `inPlacePage`) when WebAssembly is there, so that a
 * masked WebSocket payload read into it is unmasked where it lies, with no copy in; a plain buffer otherwise.
 * Scratch: its contents are only valid until the next read, and unmasking from it changes it. Whoever keeps bytes
 * that may lie here past the current read must copy them (`chunk.buffer === readBuffer.buffer` tells).
 */

import { Buffer } from 'node:buffer';
import { IN_PLACE_PAGE_BYTES, inPlacePage } from '../util/mask.js';

/** The shared socket read buffer (see the module comment). */
export const readBuffer: Buffer = inPlacePage() ?? Buffer.allocUnsafeSlow(IN_PLACE_PAGE_BYTES);
