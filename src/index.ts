/**
 * sockeye: HTTP/1.1 + WebSocket for Node.js on raw TCP sockets. Public API only (re-exports).
 */

export {
  ConnectionClosedError,
  HandshakeError,
  InvalidStateError,
  ProtocolError,
  SockeyeError,
} from './errors.js';
export { HeaderList } from './http1/headers.js';
export type { TargetChars } from './http1/parser.js';
export {
  WebSocketHandler,
  type WebSocketHandlerOptions,
  type WebSocketHandlerStats,
  websocketHandler,
} from './node/bridge.js';
export {
  type BinaryType,
  WebSocket,
  type WebSocketClientOptions,
  type WebSocketEventMap,
  type WebSocketHeaders,
} from './node/client.js';
export type { DeflateCodecOptions, DeflateStats } from './node/deflate.js';
export {
  type BackpressureEvent,
  type BackpressureMessage,
  type CloseStep,
  type CloseStepMessage,
  DIAGNOSTICS_CHANNELS,
  type FrameDirection,
  type FrameMessage,
  type PayloadMessage,
} from './node/diagnostics.js';
export { CloseEvent, type CloseEventInit, ErrorEvent, type ErrorEventInit } from './node/events.js';
export type { FetchHandler, FetchInfo } from './node/fetch.js';
export type {
  KernelBufferSettings,
  KernelDeviceStats,
  KernelStats,
  KernelTcpStats,
} from './node/kernel-stats.js';
export type { ListenStats } from './node/listen-stats.js';
export { PreparedMessage } from './node/prepared-message.js';
export type { PubSubAdapter, PubSubHub } from './node/pubsub-adapter.js';
export { SockeyeRequest } from './node/request.js';
export { type BodyInit, SockeyeResponse } from './node/response.js';
export {
  type CloseResult,
  type ConnectionEndInfo,
  type HttpLimits,
  type HttpTimeouts,
  type InspectorOptions,
  type MetricsOptions,
  type RequestHandler,
  type ServeOptions,
  Server,
  serve,
  type UpgradeHook,
} from './node/server.js';
export { type SseCloseCause, type SseEvent, type SseOptions, SseStream } from './node/sse.js';
export type { HttpStats, ServerStats, SseStats } from './node/stats.js';
export {
  type BackpressurePolicy,
  CLOSED,
  CLOSING,
  type CloseCause,
  type CloseInfo,
  CONNECTING,
  type FrameObserver,
  OPEN,
  type PerMessageDeflateOptions,
  type PublishResult,
  SEND_BACKPRESSURE,
  SEND_DROPPED,
  ServerWebSocket,
  type UpgradeContext,
  type UpgradeRejection,
  type UpgradeResult,
  type WebSocketOptions,
  type WebSocketStats,
} from './node/websocket.js';
export type { DeflateClientOffer, DeflateParams, DeflateServerPolicy } from './ws/permessage-deflate.js';
