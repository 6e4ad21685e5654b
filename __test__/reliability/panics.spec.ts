// R22: Rust panics injected at the decode, write and reactor sites (a test-only switch)
// never cross into JS: the connection being served closes with ERR_INTERNAL, the others
// keep their byte streams intact, and the server keeps serving.
import test from 'ava'
import { randomBytes } from 'node:crypto'
import type * as net from 'node:net'
import { Connection, createListener, EventLoop, stats } from '../../index'
import { native } from '../../dist/core/native'
import { frame, framedEcho, netConnect, readExactly, until } from '../helpers'

process.env.NETPOLL_FAULT_INJECTION = '1'
const inject = (site: string, count = 1): void => (native as unknown as { injectPanic(s: string, n: number): void }).injectPanic(site, count)

async function echoes(s: net.Socket): Promise<boolean> {
  const p = randomBytes(512)
  s.write(frame(p))
  return (await readExactly(s, 4 + p.length)).equals(frame(p))
}

test.serial('the switch is refused without NETPOLL_FAULT_INJECTION=1', (t) => {
  delete process.env.NETPOLL_FAULT_INJECTION
  t.throws(() => inject('decode'), { message: /NETPOLL_FAULT_INJECTION/ })
  process.env.NETPOLL_FAULT_INJECTION = '1'
  t.throws(() => inject('elsewhere'), { message: /unknown site/ })
})

for (const site of ['decode', 'write', 'reactor']) {
  test.serial(`a panic at the ${site} site closes at most the connection being served`, async (t) => {
    const ln = await createListener('tcp', '127.0.0.1:0')
    const closes: Array<string | null> = []
    const loop = new EventLoop(framedEcho, {
      onPrepare: (c: Connection) => c.addCloseCallback((_c, e) => closes.push(e?.code ?? null)),
    })
    loop.serve(ln)
    const clients = await Promise.all(Array.from({ length: 4 }, () => netConnect({ host: '127.0.0.1', port: ln.address.port! })))
    for (const s of clients) t.true(await echoes(s))
    const before = stats().panics

    inject(site)
    // Traffic on every connection until the shot has fired.
    const alive = clients.map((s) => echoes(s).catch(() => false))
    await until(() => stats().panics > before, 10_000)
    const results = await Promise.all(alive)
    // The decode and write sites always pin the panic on a connection: wait for its close.
    if (site !== 'reactor') await until(() => closes.includes('ERR_INTERNAL'), 10_000)

    const internal = closes.filter((c) => c === 'ERR_INTERNAL').length
    t.true(internal <= 1, `closed with ERR_INTERNAL: ${internal}`)
    if (site !== 'reactor') t.is(internal, 1, 'the connection being served is closed')
    t.true(results.filter((ok) => !ok).length <= internal, 'only a closed connection lost its answer')
    // Everything not closed still echoes byte-exact, and new connections are served.
    for (const [i, s] of clients.entries()) if (results[i]) t.true(await echoes(s))
    const fresh = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
    t.true(await echoes(fresh))
    for (const s of [...clients, fresh]) s.destroy()
    await loop.shutdown({ timeout: 1000 })
  })
}
