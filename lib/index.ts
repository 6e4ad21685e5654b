/**
 * netpoll for Node.js: high-performance non-blocking networking for RPC servers and clients.
 * @packageDocumentation
 */
export { SUPPORTED_PLATFORMS, UnsupportedPlatformError } from './loader'
