/**
 * Every default limit and timeout of sockeye, each with where its number comes from.
 * Sizes are bytes, timeouts milliseconds unless the name says otherwise. docs/limits.md lists them.
 */

/** Request line (method SP request-target SP HTTP-version): 8 KiB, as nginx's large_client_header_buffers and
 * RFC 9112 §3's "at least 8000 octets" recommendation. Over it: 414 (or 400 when the target is not the problem). */
export const MAX_REQUEST_LINE_BYTES = 8 * 1024;

/** Header section (all field lines and their CRLFs): 16 KiB, h11's and Node's `--max-http-header-size` default. 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** Number of field lines: 100, the default of Node's `server.maxHeadersCount` / uWS. 431 above it. */
export const MAX_HEADER_COUNT = 100;

/** Request body size: 1 MiB by default (nginx client_max_body_size is 1 MiB). 413 above it. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Trailer section of a chunked body: bounded like the header section, 431 above it (RFC 9112 §7.1.2). */
export const MAX_TRAILER_BYTES = 16 * 1024;

/** Chunk extensions on one chunk line: 4 KiB is far above any real use and stops CPU-draining extension abuse. */
export const MAX_CHUNK_LINE_BYTES = 4 * 1024;

/** Headers must be complete within 10 s of the first byte (slowloris defence; Node's headersTimeout is 60 s,
 * nginx's client_header_timeout 60 s; we are stricter because the limit only hits stalled peers). 408. */
export const HEADERS_TIMEOUT_MS = 10_000;

/** An idle keep-alive connection is closed after 5 s (Node's keepAliveTimeout default). */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** A request body that makes no progress for 30 s is abandoned with 408 (nginx client_body_timeout is 60 s). */
export const BODY_TIMEOUT_MS = 30_000;

/** Requests answered on one connection before we ask to close it: unlimited by default. */
export const MAX_REQUESTS_PER_CONNECTION = 0;

/** Graceful close: connections still busy after 10 s are destroyed. */
export const CLOSE_DEADLINE_MS = 10_000;

/** Bytes the HTTP adapter buffers ahead of the handler (pipelined requests) before it pauses the socket; also the
 * responses a pipelining client has not read before the next pipelined request waits (docs/attacks.md). */
export const HTTP_MAX_PIPELINE_BYTES = 64 * 1024;

/** Unread request-body bytes held per request before the socket is paused (resumed below half of it): 64 KiB, the
 * same budget as pipelined bytes above and the default highWaterMark of Node's file streams. */
export const HTTP_BODY_HIGH_WATER_MARK = 64 * 1024;

/** listen(2) backlog: 511, Node's and nginx's default (Redis too); Linux caps it at net.core.somaxconn. */
export const LISTEN_BACKLOG = 511;

/**
 * Lingering close (RFC 9112 §9.6): after a response that ends the connection (a 503 refusal, a refused WebSocket
 * handshake) our side is ended at once, and the socket destroyed 2 s later if the peer has not closed. The peer
 * may still be sending (a request body, early frames); destroying at once can answer them with a RST that makes
 * its kernel drop our unread response. Most peers close as soon as they read `Connection: close`, so the wait
 * costs nothing then; 2 s covers a slow link's round trip, and bounds what a flood of refused connections holds
 * (nginx waits up to lingering_timeout 5 s per read, lingering_time 30 s in all). One value for every refusal; the
 * server's 503 used 1 s and the WebSocket refusals 2 s before this constant.
 */
export const LINGER_MS = 2_000;

/** WebSocket message size: 64 MiB default (ws uses 100 MiB; uWS 16 KiB). Over it: close 1009. */
export const WS_MAX_PAYLOAD = 64 * 1024 * 1024;

/**
 * Frames one message may come in (first frame plus continuations): 131,072, twice the most the Autobahn
 * TestSuite sends (cases 9.3.1 and 9.4.1: 4 MiB in 64-byte frames, 65,536 frames). Past it: 1008. A fragment
 * costs only its bytes (the core copies fragments into one growing buffer), so this bounds the CPU a message of
 * tiny frames costs (a frame header's work per frame), not its memory, which maxPayload bounds.
 */
export const WS_MAX_FRAGMENTS = 128 * 1024;

/** Close handshake: after sending a close frame we wait 5 s for the peer's, then destroy (websockets uses 10 s). */
export const WS_CLOSE_TIMEOUT_MS = 5_000;

/** Client handshake timeout (websockets' open_timeout is 10 s). */
export const WS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Bytes read ahead (frames sent early) while an async `upgrade` hook decides; then reading pauses and TCP pushes
 * back. 64 KiB: one socket read's worth, what the connection would have buffered anyway. */
export const WS_EARLY_BYTES_LIMIT = 64 * 1024;

/** Largest 101 (or refusal) response head the client reads before failing the handshake: 16 KiB, the same bound
 * as the server's request header section (MAX_HEADER_BYTES). */
export const WS_CLIENT_MAX_RESPONSE_HEAD_BYTES = 16 * 1024;

/** Most bytes of a refusal's body (a status other than 101) the client keeps for `HandshakeError.body`: 4 KiB,
 * enough for the sentence or two a server says about why (the CLI shows its first line), small enough that an
 * error page is not read whole. The rest is not read: the connection is closed once these have arrived. */
export const WS_CLIENT_MAX_REFUSAL_BODY_BYTES = 4 * 1024;

/** Fragment size used when a streamed message is sent without explicit frame boundaries. */
export const WS_FRAGMENT_SIZE = 64 * 1024;

/** `send()` returns -1 (queued, wait for drain) above this many buffered bytes: 64 KiB, the order of a socket's
 * default writableHighWaterMark (16 KiB) and uWS's per-message budget. */
export const WS_BACKPRESSURE_LIMIT = 64 * 1024;

/** Most bytes queued for a peer that does not read before the policy applies (close 1008 or drop): 1 MiB, as
 * uWS's default maxBackpressure (the "e.g. 1 MiB"). Bounds server memory per slow consumer; pongs count
 * too (a ping flood that is never read, ws-send.ts checkPongBacklog). */
export const WS_MAX_BACKPRESSURE = 1024 * 1024;

/** Seconds without traffic before a liveness ping: 120 s, uWS's default idleTimeout. */
export const WS_IDLE_TIMEOUT_S = 120;

/** Seconds to wait for any frame after the liveness ping: 30 s (websockets' ping_timeout is 20 s). */
export const WS_PONG_TIMEOUT_S = 30;

/** Unsettled async message handlers per connection before reading pauses (websockets' max_queue is 16). */
export const WS_MAX_PENDING_MESSAGES = 16;

/**
 * With a `messageChunk` handler, single-frame messages of this many bytes or more are streamed to it: one read's
 * worth (up to 64 KiB) at a time, so no message costs a buffer of its size. Below it a message fits in one or two
 * reads and gathering it costs little.
 */
export const WS_STREAM_THRESHOLD = 64 * 1024;

// permessage-deflate (RFC 7692), measured on this machine: docs/limits.md#permessage-deflate.

/** Messages shorter than 1 KiB are sent uncompressed (ws's threshold too): below it deflate saves a few bytes
 * for several µs of CPU. */
export const DEFLATE_THRESHOLD = 1024;

/** zlib level 1: on 16-64 KiB JSON about half the CPU of level 6 for a ratio ~20 % lower (bench/deflate-settings.ts). */
export const DEFLATE_LEVEL = 1;

/** zlib memLevel 4: the same ratio as zlib's default 8 on messages up to 64 KiB. (Node's zlib keeps a 64 KiB hash
 * table whatever memLevel says, so the window is what sizes a compressor.) */
export const DEFLATE_MEM_LEVEL = 4;

/** Our compression window: 2^13 = 8 KiB. A compressor with context takeover then costs 116 KiB instead of 218 KiB
 * with window 15 (measured RSS per context), at the same ratio on messages up to 64 KiB. The peer's decompressor
 * keeps whatever window was agreed. */
export const DEFLATE_WINDOW_BITS = 13;

/** A connection's own zlib contexts are freed after 5 s without compressed traffic. */
export const DEFLATE_IDLE_RELEASE_MS = 5_000;

/**
 * A received compressed message is inflated on the event loop in slices of this much output, one slice per loop
 * turn, so that one large or highly compressed message (a 64 MiB bomb in 64 KiB) delays every other connection
 * by one slice at a time, not by its whole inflate. 256 KiB is about half a millisecond of zlib work on this
 * machine (docs/limits.md#permessage-deflate); messages that inflate to less stay on the one-pass path.
 */
export const INFLATE_SLICE_BYTES = 256 * 1024;

/**
 * A message we compress that is larger than this is deflated on the event loop in slices of this much input, one
 * slice per loop turn, so that sending one 64 MiB message delays every other connection by one slice at a time,
 * not by its whole deflate; messages up to this size keep the one-pass synchronous path (the small-message speed).
 * Sized on input because zlib's speed on it varies a hundredfold with content: at level 1 / memLevel 4 / window
 * 13 this machine deflated JSON-like text at ~800 KiB/ms (64 KiB: ~0.1 ms) and random bytes at 7-15 KiB/ms
 * under load (64 KiB: 4-9 ms), measured 2026-12-07 with zlib.deflateRawSync (bench/results/deflate-delay-*.md).
 */
export const DEFLATE_SLICE_BYTES = 64 * 1024;

// The socket writer (node/socket-writer.ts): how one batch of output becomes one socket write.

/** The arena small writes are copied into: 8 KiB, the size of Node's own Buffer pool. A kept segment holds its whole
 * arena alive, so this is also the most a backpressured connection can pin (see socket-writer.ts, MEMORY). */
export const WRITER_ARENA_SIZE = 8 * 1024;

/** A held batch (a streamed echo) is written once it has this many bytes: 256 KiB, the cork limit of the raw
 * node:net floor the benchmarks compare against (bench raw-net.cjs). */
export const WRITER_HOLD_MAX = 256 * 1024;

/** The shared log a publish's frames are copied into once, for every subscriber's batch to refer to (socket-writer.ts):
 * 64 KiB, room for a burst of 16 messages of 1 KiB per event-loop turn (bench/fanout.ts) in one log, so that each
 * subscriber's batch is one view. Also the most a slow subscriber can pin (one log: see socket-writer.ts, MEMORY),
 * a sixteenth of the default maxBackpressure. */
export const WRITER_SHARED_LOG_SIZE = 64 * 1024;

/** What a socket past its high-water mark is given while it waits for 'drain' is gathered in spill chunks
 * (socket-writer.ts) that start at WRITER_SPILL_MIN (4 KiB, a few frames: a connection behind by a little costs
 * little) and double up to WRITER_SPILL_MAX (64 KiB). Before, each batch was one Buffer and one entry in the
 * socket's queue: a slow subscriber queued 1,000 of them per MiB, and 1,000 slow subscribers a million, which
 * glibc kept as RSS after they were freed and whose freeing stalled the event loop for 1.4 s
 * (bench/results/soak-2026-12-07.md). With chunks it is about 20 per MiB. */
export const WRITER_SPILL_MIN = 4 * 1024;
/** The largest spill chunk: 64 KiB, four times the socket's high-water mark, so one chunk refills the kernel's send
 * buffer after a drain; bigger chunks would only make a cut-off consumer's last allocation larger. */
export const WRITER_SPILL_MAX = 64 * 1024;

/** Pieces at least this big are written as they are (no copy); smaller neighbours are merged into one buffer.
 * 2 KiB: with 64 KiB, POST 4 KiB echo ran ~15 % slower (bench/run.sh --workload http-post-4k). */
export const WRITER_COPY_LIMIT = 2 * 1024;

/** Chunk extensions summed over one message (the bytes after chunk-size on every chunk line, last-chunk included):
 * 16 KiB, as the header section (MAX_HEADER_BYTES) and Node's kMaxChunkExtensionsSize (its CVE-2024-22019 fix,
 * counted per chunk there). MAX_CHUNK_LINE_BYTES bounds one line; this bounds many small lines that would
 * otherwise cost parsing time without limit while carrying no content. 400, as the per-line bound. */
export const MAX_CHUNK_EXTENSIONS_BYTES = 16 * 1024;

// Pub/sub topics (src/pubsub/topics.ts).

/** Longest topic name: 1 KiB of UTF-8. Topics name rooms, users, documents; 1 KiB is far above that and bounds what
 * one connection can make the registry hold (PUBSUB_MAX_TOPICS_PER_SUBSCRIBER of them: 1 MiB). RangeError above. */
export const PUBSUB_MAX_TOPIC_BYTES = 1024;

/** Topics one connection may be in: 1,000 (Centrifugo's client channel limit defaults to 128; uWS and socket.io set
 * none). `maxTopicsPerConnection` changes it. RangeError above. */
export const PUBSUB_MAX_TOPICS_PER_SUBSCRIBER = 1000;

// Workers on one machine (src/cluster/): the primary's supervision and the IPC relay of topics.

/** A worker that dies less than 5 s after it started is crash-looping: its replacement waits (see the next two). A
 * worker that lived longer is replaced at once. 5 s: longer than a server's start (about 100 ms here), short enough
 * that a real loop is noticed on its second turn. */
export const CLUSTER_CRASH_LOOP_MS = 5_000;

/** The first wait before replacing a crash-looping worker: 100 ms, doubling per crash in a row... */
export const CLUSTER_RESPAWN_MIN_DELAY_MS = 100;

/** ...up to 10 s, so that a worker that cannot start (a port taken, a bad config) costs one fork per 10 s, not a
 * fork loop on every core. */
export const CLUSTER_RESPAWN_MAX_DELAY_MS = 10_000;

/** Bytes of relayed topic messages waiting in one IPC channel (primary to a worker, or a worker to the primary)
 * before further ones are dropped and counted as lost: 16 MiB, sixteen times a WebSocket's WS_MAX_BACKPRESSURE,
 * since one channel carries the traffic of every subscriber of a worker. Bounds the memory a stuck worker costs. */
export const CLUSTER_IPC_MAX_PENDING_BYTES = 16 * 1024 * 1024;

/** Payload bytes gathered into one IPC message of topic messages before it is sent without waiting for the end of the
 * event-loop turn: 64 KiB, a Linux pipe's capacity (pipe(7)), so a batch is one write(2) when the reader keeps up,
 * and one IPC message stays small next to the CLUSTER_IPC_MAX_PENDING_BYTES budget. A bigger message travels alone. */
export const CLUSTER_IPC_BATCH_BYTES = 64 * 1024;

/** How long `stats()` waits for each worker's figures: 2 s (a worker that does not answer in that time is busy or
 * stuck; the sum then says how many answered). */
export const CLUSTER_STATS_TIMEOUT_MS = 2_000;

/** After a graceful close's deadline, how long a worker has to exit before it is killed (SIGKILL): 2 s. */
export const CLUSTER_EXIT_GRACE_MS = 2_000;

// The inspector (src/inspector/, `serve({ inspector })`); the server resolves these and hands them to it.

/** How often the inspector's feed sends a snapshot, and samples the listener for its charts: 1 s, the refresh of
 * `top` and of Grafana's fastest default; a person reading a table cannot follow faster updates. */
export const INSPECTOR_INTERVAL_MS = 1000;

/** Samples kept for the listener charts: 300 (5 minutes at INSPECTOR_INTERVAL_MS), "the last few minutes" of issue 18. */
export const INSPECTOR_HISTORY_SAMPLES = 300;

/** The inspector calls `server.stats()` at most every this many times what the last call took: 100. stats() reads
 * the accept-queue depth from /proc/net/tcp, which has a row per socket of the namespace: about 0.1 ms with a few
 * hundred sockets, 70 ms with 62,000 rows (a 10,000-WebSocket soak). So on a crowded host the inspector's figures
 * from stats() refresh every few seconds and stay under 1 % of the event loop; elsewhere every snapshot
 * (INSPECTOR_INTERVAL_MS). stats() itself always reads afresh. */
export const INSPECTOR_STATS_COST_FACTOR = 100;

/** Frames kept per connection for its detail view (both directions): 50, a screenful. */
export const INSPECTOR_FRAMES_KEPT = 50;

/** Text shown of a frame's payload (with `payloads: true`): 200 UTF-16 units, a line or two of a chat message. */
export const INSPECTOR_PREVIEW_CHARS = 200;

/** Ended connections kept for "last ends": 100. */
export const INSPECTOR_ENDS_KEPT = 100;

/** Connections listed in one snapshot: 500 (the table of a person's tab, not an export; the counts stay exact). */
export const INSPECTOR_MAX_LISTED = 500;

/** An inspector feed whose tab has not read its last snapshot for this long is ended: 30 s. Until then it is
 * sampled (snapshots are skipped while the socket is over its high-water mark), so a slow tab costs the server at
 * most one snapshot of memory and never slows it. */
export const INSPECTOR_FEED_STALL_MS = 30_000;

// Server-sent events (src/node/sse.ts, src/http1/event-stream.ts).

/** A comment line is written to an SSE stream that has been silent this long: 15 s. Proxies and load balancers close
 * idle connections (nginx's proxy_read_timeout and AWS ALB's idle timeout default to 60 s; some corporate proxies
 * use 30 s); the HTML Standard's §9.2.7 authoring notes suggest a comment "every 15 seconds or so". The coarse
 * clock's tick (250 ms) is the granularity. `res.sse({ heartbeat })` changes it; 0 turns it off. */
export const SSE_HEARTBEAT_MS = 15_000;

/** Longest `retry:` an SSE stream may announce: 24 hours. The field is a reconnection delay in ms for the client;
 * a larger number is almost certainly a unit mistake (seconds for ms). RangeError above. */
export const SSE_MAX_RETRY_MS = 24 * 60 * 60 * 1000;
