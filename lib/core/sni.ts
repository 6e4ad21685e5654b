/**
 * Node's `SNICallback` on TLS listeners: a handshake whose client sent a server name waits in
 * its shard (the ClientHello held, the handshake timer running) while the callback picks the
 * certificate, synchronously or not; its answer goes back to the shard, which then goes on
 * with the chosen context's certificates, the listener's own, or closes the connection.
 * @internal
 */
import type { NetpollError } from './errors'
import { SecureContext } from './secure-context'
import type { SNICallback } from './secure-context'

/**
 * Sends the answer to the shard: the chosen context's native handle (`undefined`: the
 * listener's own), or `refuse`. Returns whether the connection was still waiting (false: it
 * failed or closed meanwhile and the answer did nothing).
 */
export type SniAnswer = (context: SecureContext['native'] | undefined, refuse: boolean) => boolean

/** The code given to a callback's error that has none (the listener reports coded errors). */
const SNI_ERROR = 'ERR_TLS_SNI_CALLBACK'

/** The callback's error as the listener reports it: the same object, with a `code` if it had none. */
function asClientError(e: unknown): NetpollError {
  const err = (e instanceof Error ? e : new Error(`SNICallback failed: ${String(e)}`)) as NetpollError
  if (typeof err.code !== 'string') err.code = SNI_ERROR
  return err
}

/** Why a context given to the callback's `cb` cannot be used. */
function badContext(ctx: unknown): NetpollError {
  const nodeContext = typeof ctx === 'object' && ctx !== null && 'context' in ctx
  const what = nodeContext
    ? "a Node tls.SecureContext (its keys live in Node's OpenSSL, not in netpoll's shards)"
    : `${typeof ctx} ${Object.prototype.toString.call(ctx)}`
  const err = new TypeError(`SNICallback: the context must come from netpoll's createSecureContext, got ${what}`) as NetpollError
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

/**
 * Runs `callback(servername, cb)` for one handshake (Node's semantics): `cb(null, ctx)` with a
 * context from our `createSecureContext` serves its certificates, `cb(null)` /
 * `cb(null, undefined)` the listener's; `cb(err)`, a callback that throws, or a context of
 * another kind fails the handshake, and `report` gets the error (unless the connection had
 * failed already, e.g. by its handshake timeout, which was reported then). Only the first
 * call of `cb` counts; later ones are ignored.
 */
export function runSniCallback(callback: SNICallback, servername: string, answer: SniAnswer, report: (error: NetpollError) => void): void {
  let answered = false
  const cb = (err?: unknown, ctx?: unknown): void => {
    if (answered) return
    answered = true
    let failure: NetpollError | null = err === null || err === undefined ? null : asClientError(err)
    let chosen: SecureContext['native'] | undefined
    if (failure === null && ctx !== null && ctx !== undefined) {
      if (ctx instanceof SecureContext) chosen = ctx.native
      else failure = badContext(ctx)
    }
    try {
      if (answer(chosen, failure !== null) && failure !== null) report(failure)
    } catch (e) {
      // The engine could not take the answer (it was destroyed): the handshake is lost.
      report(asClientError(e))
    }
  }
  try {
    callback(servername, cb)
  } catch (e) {
    cb(e ?? new Error(`SNICallback threw ${String(e)}`))
  }
}
