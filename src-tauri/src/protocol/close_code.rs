//! WebSocket close codes this server sends, in one place so the docs and the code agree.

/// A close code with its meaning. See `docs/PROTOCOL.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// 1000: the conversation is over.
    Normal,
    /// 1001: the server is shutting down.
    GoingAway,
    /// 1008: the client broke a rule (for example kept flooding after warnings).
    PolicyViolation,
    /// 1009: a frame was larger than the size limit.
    MessageTooBig,
    /// 1011: this connection's actor failed; the server itself is fine.
    InternalError,
    /// 1013: the client did not read fast enough and its outbound queue filled up (or the server
    /// could not serve it right now): try again later.
    SlowConsumer,
    /// 4001: another connection of the same client (`?session=`) took this one's place. The
    /// client must not reconnect by itself.
    Replaced,
    /// 4003: the access token this connection was admitted with is no longer valid (it was
    /// rotated). The client must not reconnect by itself with the same token.
    Unauthorized,
}

impl CloseCode {
    /// The numeric code on the wire.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::PolicyViolation => 1008,
            CloseCode::MessageTooBig => 1009,
            CloseCode::InternalError => 1011,
            CloseCode::SlowConsumer => 1013,
            CloseCode::Replaced => 4001,
            CloseCode::Unauthorized => 4003,
        }
    }

    /// The human-readable reason sent with the code (at most 123 bytes, per RFC 6455).
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Normal => "bye",
            CloseCode::GoingAway => "server shutting down",
            CloseCode::PolicyViolation => "policy violation",
            CloseCode::MessageTooBig => "message too big",
            CloseCode::InternalError => "internal error in this connection",
            CloseCode::SlowConsumer => "outbound queue full: reading too slowly, reconnect",
            CloseCode::Replaced => "replaced",
            CloseCode::Unauthorized => "unauthorized",
        }
    }
}
