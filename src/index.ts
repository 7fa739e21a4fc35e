// libtls for Node.js: libtls's API 1:1 (Config, client/server, Tls, constants; names as docs/api.md
// says), plus poll() and the fd helpers the 1:1 API needs on Node.js, and the Node.js layer.
export {
  type Backend,
  type BackendCapabilities,
  type BackendCrypto,
  type BackendName,
  backend,
} from './backend.js';
export {
  Config,
  type ConfigOptions,
  type KeypairOptions,
  SECURE_CIPHERS,
  type TicketKeyOptions,
} from './config.js';
export * from './constants.js';
export { TlsError } from './errors.js';
export {
  Agent,
  type AgentOptions,
  type Connector,
  type ConnectorCallback,
  type ConnectorOptions,
  type CreateConnectionCallback,
  connector,
  createHttpsServer,
  HttpsServer,
  type HttpsServerOptions,
} from './http.js';
export {
  createHttp2Server,
  Http2SecureServer,
  type Http2ServerOptions,
  http2Connection,
} from './http2.js';
export {
  type ConfigLike,
  type ConnectOptions,
  connect,
  createServer,
  type ServerOptions,
  TlsServer,
  type UpgradeOptions,
  upgrade,
} from './net.js';
export { type NodeTlsOptions, UNSUPPORTED_OPTION } from './node-options.js';
export { type PollOptions, poll, socketpair, takeFd } from './poll.js';
export { type OcspInfo, type PeerCertificate, type SocketAddresses, TlsSocket } from './socket.js';
export { client, server, Tls, type TlsReadCallback, type TlsWriteCallback } from './tls.js';
export type { BytesLike } from './validate.js';
