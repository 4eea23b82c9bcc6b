//! The Lua scripts of the Redis room log. Redis runs a script atomically (no other command of
//! any client runs in between), so each of them sees and leaves a room's keys consistent.
//!
//! Every script takes the same three keys (see [`super::keys::RoomKeys`]): the epoch string, the
//! seq counter and the stream, and a fresh random epoch as `ARGV[1]`. Each begins with the same
//! prelude, which makes the room's incarnation exist:
//!
//! - **the seq counter**: when it is missing (a new room, or Redis lost it), it is set to the
//!   last seq still in the stream, or 0, so numbering never goes back under kept frames;
//! - **the epoch**: `SET NX` of the candidate, then `GET`. A new room, or one whose data Redis
//!   lost (restart without persistence, `FLUSHALL`), gets a new epoch, and every node sees the
//!   same one; clients resuming with the old epoch then get `gap: true`.
//!
//! Seqs cross the Lua boundary as decimal strings (`string.format('%d')`), and stream entry IDs
//! are `<seq>-0`, so `XRANGE` by seq needs no index of its own. Lua numbers are doubles: seqs
//! stay exact up to 2^53, some 285 years at a million posts a second in one room.

/// The prelude every script starts with: returns the epoch.
const PRELUDE: &str = r#"
local function ensure()
  if redis.call('EXISTS', KEYS[2]) == 0 then
    local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
    local seq = '0'
    if #last > 0 then seq = string.match(last[1][1], '^(%d+)') end
    redis.call('SET', KEYS[2], seq)
  end
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
  return redis.call('GET', KEYS[1])
end
local function first_kept()
  local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
  if #first > 0 then return first[1][1] end
  return ''
end
"#;

/// Publishing a batch: `ARGV = [epoch candidate, maxlen, channel, head1, tail1, head2, tail2…]`.
/// For each frame: `INCR` the seq, join `head .. seq .. tail`, `XADD` it (trimmed to `maxlen`
/// entries) and `PUBLISH` `"<epoch> <seq> <frame>"` to the room's channel.
/// Returns `{epoch, first seq}` (the batch has consecutive seqs).
const APPEND: &str = r#"
local epoch = ensure()
local first = ''
local i = 4
while i < #ARGV do
  local seq = string.format('%d', redis.call('INCR', KEYS[2]))
  if first == '' then first = seq end
  local frame = ARGV[i] .. seq .. ARGV[i + 1]
  redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[2], seq .. '-0', 'f', frame)
  redis.call('PUBLISH', ARGV[3], epoch .. ' ' .. seq .. ' ' .. frame)
  i = i + 2
end
return {epoch, first}
"#;

/// Reading: `ARGV = [epoch candidate, mode, bound, count]`, `mode` one of `after` (entries from
/// seq `bound` up), `before` (entries up to seq `bound`, newest first) or `head` (none).
/// Returns `{epoch, last seq, first kept entry id or '', kept entries, {id1, frame1, …}}`.
const READ: &str = r#"
local epoch = ensure()
local entries = {}
if ARGV[2] == 'after' then
  entries = redis.call('XRANGE', KEYS[3], ARGV[3], '+', 'COUNT', ARGV[4])
elseif ARGV[2] == 'before' then
  entries = redis.call('XREVRANGE', KEYS[3], ARGV[3], '-', 'COUNT', ARGV[4])
end
local flat = {}
for _, entry in ipairs(entries) do
  table.insert(flat, entry[1])
  table.insert(flat, entry[2][2])
end
return {epoch, redis.call('GET', KEYS[2]), first_kept(), redis.call('XLEN', KEYS[3]), flat}
"#;

/// The publishing script (see [`APPEND`]).
pub fn append() -> ::redis::Script {
    ::redis::Script::new(&format!("{PRELUDE}{APPEND}"))
}

/// The reading script (see [`READ`]).
pub fn read() -> ::redis::Script {
    ::redis::Script::new(&format!("{PRELUDE}{READ}"))
}
