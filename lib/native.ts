/**
 * The raw native binding, loaded once.
 * @internal
 */
import { join } from 'node:path'
import { loadBinding } from './loader'

/** The generated binding of `crates/netpoll_napi`. */
export const native = loadBinding(join(__dirname, '..'))
