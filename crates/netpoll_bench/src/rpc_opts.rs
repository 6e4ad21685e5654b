//! The options of the request/response modes (`http1`, `h2`, `grpc`) and their flags.

/// Options of the http1, h2 and grpc modes.
pub struct RpcOptions {
    /// Request path (http1, h2).
    pub path: String,
    /// The body every answer must carry (http1, h2).
    pub expect: String,
    /// Streams in flight per connection (h2, grpc).
    pub streams: usize,
    /// `unary` or `stream` (grpc).
    pub call: String,
    /// Messages per streaming call (grpc).
    pub messages: u32,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            path: "/".into(),
            expect: "hello world\n".into(),
            streams: 10,
            call: "unary".into(),
            messages: 50,
        }
    }
}

impl RpcOptions {
    /// Takes `flag value` if it is one of these options (`Ok(false)`: not one of them).
    pub fn parse(&mut self, flag: &str, value: &str) -> Result<bool, String> {
        let int = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag}: {value:?} is not a count"))
        };
        match flag {
            "--path" => self.path = value.into(),
            "--expect" => self.expect = value.replace("\\n", "\n"),
            "--streams" => self.streams = int()?.max(1),
            "--messages" => self.messages = int()? as u32,
            "--call" if ["unary", "stream"].contains(&value) => self.call = value.into(),
            "--call" => return Err("--call is unary or stream".into()),
            _ => return Ok(false),
        }
        Ok(true)
    }
}
