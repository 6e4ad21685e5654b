// The test service of __test__/interop/thrift.spec.ts and examples/thrift-server.js.
// Regenerate the committed code (Apache Thrift compiler 0.17+, `apt-get install thrift-compiler`):
//   thrift --gen js:node,es6 -out __test__/interop/thrift/gen-nodejs __test__/interop/thrift/echo.thrift

/** add() overflowed a signed 32-bit result. */
exception Overflow {
  1: string message,
  2: i32 a,
  3: i32 b,
}

service Echo {
  /** Returns `data` unchanged. */
  binary echo(1: binary data),

  /** a + b; throws Overflow when the sum does not fit in an i32. */
  i32 add(1: i32 a, 2: i32 b) throws (1: Overflow overflow),

  /** Records `note` (no answer is sent). */
  oneway void notify(1: string note),

  /** The notes recorded by notify() so far, in arrival order. */
  list<string> notes(),
}
