/**
 * netpoll for Node.js: high-performance non-blocking networking for RPC servers and clients.
 * @packageDocumentation
 */
export { SUPPORTED_PLATFORMS, UnsupportedPlatformError } from './loader'
export { nativeBinaryPath, nativeVersion } from './native'
export { configure, getConfig } from './config'
export type { ConfigOptions, EngineMode, LoadBalance } from './config'
export { Connection } from './connection'
export type { NetAddress, OnRequest, CloseCallback } from './connection'
export { Reader } from './reader'
export { Writer } from './writer'
export { EventLoop } from './event-loop'
export type { EventLoopOptions, ShutdownResult } from './event-loop'
export { Listener, createListener } from './listener'
export type { Network, ListenerOptions } from './listener'
export { dial, Dialer } from './dialer'
export type { DialOptions } from './dialer'
export type { NetpollError } from './errors'
export { stats } from './stats'
export { LinkBuffer, poolStats } from './link-buffer'
export type { PoolStats } from './link-buffer'
export type { MaybePromise, Reader as NocopyReader, Writer as NocopyWriter } from './nocopy'
