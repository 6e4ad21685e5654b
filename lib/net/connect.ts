/** `connect()` / `createConnection()`: a {@link Socket} connecting with `net`'s argument forms. */
import { ConnectOptions, invalidArg, normalizeConnectArgs, startConnect } from './connecting'
import { Socket } from './socket'
import { TLSSocket } from './tls-socket'

export type { ConnectOptions }

/**
 * Connects like `net.connect()`: `(port[, host][, listener])`, `(path[, listener])` or
 * `(options[, listener])`; returns the {@link Socket} at once (`'connect'` follows, then
 * `'secureConnect'` with `tls`, where the socket is a `TLSSocket`; or `'error'` with `ECONNREFUSED`, `ETIMEDOUT`, `ENOENT`, `ENOTFOUND`, … and net's
 * `code/errno/syscall/address/port`).
 */
export function connect(options: ConnectOptions, connectListener?: () => void): Socket
export function connect(port: number, host?: string, connectListener?: () => void): Socket
export function connect(path: string, connectListener?: () => void): Socket
export function connect(...args: unknown[]): Socket {
  const [o, cb] = normalizeConnectArgs(args)
  if (o.port === undefined && o.path === undefined) throw invalidArg('connect() needs a port or a path')
  const socket = o.tls ? new TLSSocket(o) : new Socket(o)
  return startConnect(socket, o, cb)
}

/** The same as {@link connect} (`net.createConnection`). */
export const createConnection = connect
