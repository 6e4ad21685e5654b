// What an idle connection holds (issue #16: a server of 10,000 idle connections pays it 10,000
// times): after serving a request, a connection is three objects (Connection, Reader, Writer)
// with no closure, no array and no side object of its own. Structure only: counts of objects
// and fields, never bytes (those vary by Node line). Runs in the engine NETPOLL_MODE selects.
import test from 'ava'
import * as net from 'node:net'
import { Connection, createListener, EventLoop } from '../index'
import { frame, netConnect, readExactly, until } from './helpers'

const N = 20

type Fields = Record<string, unknown>
const fields = (o: object): Fields => o as unknown as Fields

/** Serves N connections one framed request each (a synchronous handler), then leaves them idle. */
async function idleConnections(t: { teardown(fn: () => unknown): void }): Promise<{ conns: Connection[]; loop: EventLoop }> {
  const conns: Connection[] = []
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(
    (conn) => {
      const r = conn.reader
      const n = r.tryPeekUInt32BE()
      if (n === null) return
      const req = r.tryNext(4 + n)
      if (req === null) return
      conn.writer.writeBinary(req)
      return conn.writer.flush()
    },
    { onConnect: (conn) => void conns.push(conn) },
  )
  loop.serve(ln)
  const sockets: net.Socket[] = []
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await loop.shutdown({ timeout: 1000 })
  })
  for (let i = 0; i < N; i++) sockets.push(await netConnect({ host: '127.0.0.1', port: ln.address.port! }))
  await Promise.all(
    sockets.map(async (s, i) => {
      const req = frame(Buffer.alloc(128, i))
      s.write(req)
      await readExactly(s, req.length)
    }),
  )
  await until(() => conns.length === N && conns.every((c) => c.stats().bytesOut === 132 && !c.busy))
  // Let the flush settle its Promise (the writer's flush list empties then).
  await new Promise((resolve) => setImmediate(resolve))
  return { conns, loop }
}

test('an idle connection holds no closure of its own: a field of the connection, its reader or its writer that holds a function holds the same one on every connection', async (t) => {
  const { conns } = await idleConnections(t)
  const parts = (c: Connection): Array<[string, object]> => [['Connection', c], ['Reader', c.reader], ['Writer', c.writer]]
  for (const [name, o] of parts(conns[0])) {
    for (const [key, v] of Object.entries(fields(o))) {
      if (typeof v !== 'function') continue
      const distinct = new Set(conns.map((c) => fields(parts(c).find(([n]) => n === name)![1])[key]))
      t.is(distinct.size, 1, `${name}.${key}: one function for all ${N} connections (the handler), not one each`)
    }
  }
})

test('the connections of one EventLoop share its callbacks (one hooks object), and none has a side object while plain and idle', async (t) => {
  const { conns } = await idleConnections(t)
  const hooks = new Set(conns.map((c) => fields(c).hooks))
  t.is(hooks.size, 1)
  t.truthy([...hooks][0])
  for (const conn of conns) t.is(fields(conn).more, null)
  // Asking for the addresses makes the side object (and keeps them): only then.
  t.is(conns[0].remoteAddress?.address, '127.0.0.1')
  t.not(fields(conns[0]).more, null)
})

test('an idle reader and writer hold only the shared empty lists, and the reader is its own chain (no separate chain object)', async (t) => {
  const { conns } = await idleConnections(t)
  for (const key of ['chunks', 'waiters'] as const) {
    const lists = new Set(conns.map((c) => fields(c.reader)[key]))
    t.is(lists.size, 1, `reader.${key}: one shared list`)
    t.true(Object.isFrozen([...lists][0]), `reader.${key} is the frozen shared empty list`)
  }
  for (const key of ['pending', 'submitted', 'flushes'] as const) {
    const lists = new Set(conns.map((c) => fields(c.writer)[key]))
    t.is(lists.size, 1, `writer.${key}: one shared list`)
    t.true(Object.isFrozen([...lists][0]), `writer.${key} is the frozen shared empty list`)
  }
  for (const conn of conns) t.is(conn.reader.chain, conn.reader)
})

test('field counts: a connection, its reader and its writer keep few fields (each is 8 bytes per idle connection)', (t) => {
  // A field added to any of them shows here: raise a bound only for a reason worth 8 bytes ×
  // every idle connection of a server.
  return idleConnections(t).then(({ conns }) => {
    const c = conns[0]
    t.true(Object.keys(fields(c)).length <= 8, `Connection fields: ${Object.keys(fields(c)).join(', ')}`)
    t.true(Object.keys(fields(c.reader)).length <= 8, `Reader fields: ${Object.keys(fields(c.reader)).join(', ')}`)
    t.true(Object.keys(fields(c.writer)).length <= 9, `Writer fields: ${Object.keys(fields(c.writer)).join(', ')}`)
  })
})
