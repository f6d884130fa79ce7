-- liter_llm's shared rate limiter: every grant, settlement, pause and lease renewal is one call
-- of this script, atomic on the Redis server and timed by its clock (TIME, in microseconds).
--
-- Per limiter key (a model, or the global key) five Redis keys, in KEYS in this order:
--   state   hash: tr/tt (requests/tokens pacer TAT), cr (tokens credit), pa (paused until),
--                 lo (oldest bucket still counted), hi (newest bucket booked), R/T (requests/tokens
--                 counted in buckets lo..hi), seq (waiter tickets), gen (when the state was made)
--   ring    hash: r<b>/t<b>, the requests/tokens booked in bucket b (b = floor(time / bucket))
--   leases  zset: concurrency lease id -> expiry
--   queue   zset: waiting caller id -> ticket (arrival order)
--   alive   zset: waiting caller id -> expiry (a caller that stops asking leaves the queue)
--
-- ARGV[1] is the operation; its arguments follow. Per-key specs are 8 numbers: rpm, tpm,
-- max_concurrency, span (window + margin, us), bucket (us), request cost (us), requests
-- tolerance (us), tokens tolerance (us); 0 means no such limit.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local op = ARGV[1]

local function num(v)
  return tonumber(v) or 0
end

-- A number as Redis argument text: exact integer digits (Lua's own conversion may round).
local function f(x)
  if x == 0 then
    return '0'
  end
  return string.format('%.0f', x)
end

local function key(i, part)
  return KEYS[(i - 1) * 5 + part]
end

-- Tokens pacer cost of `tokens` under `tpm` per `span`.
local function token_cost(tokens, s)
  if s.tpm <= 0 then
    return 0
  end
  return math.ceil(tokens * s.span / s.tpm)
end

-- Counts a full window's requests and tokens now: nothing more goes until it has passed.
local function seed_full(i, s)
  local state, ring = key(i, 1), key(i, 2)
  local b = math.floor(now / s.bucket)
  redis.call('HINCRBY', ring, 'r' .. f(b), f(s.rpm))
  redis.call('HINCRBY', ring, 't' .. f(b), f(s.tpm))
  redis.call('HINCRBY', state, 'R', f(s.rpm))
  redis.call('HINCRBY', state, 'T', f(s.tpm))
  if b > num(redis.call('HGET', state, 'hi')) then
    redis.call('HSET', state, 'hi', f(b))
  end
  redis.call('HSET', state, 'seeded', 1)
end

-- Drops the buckets that no longer count at `now` from the totals; makes the state when there
-- is none. A caller that saw an older state (`known` generation) and was granted within the
-- window (`recent`) proves the server lost what it counted (a restart without persistence):
-- the window is then taken as full, so the grants it forgot cannot be repeated on top of it.
local function evict(i, s, known, recent)
  local state, ring = key(i, 1), key(i, 2)
  local target = math.floor((now - s.span) / s.bucket)
  local lo = redis.call('HGET', state, 'lo')
  if not lo then
    redis.call('DEL', ring)
    redis.call('HSET', state, 'lo', f(target), 'hi', f(target - 1), 'R', 0, 'T', 0, 'gen', f(now))
    if known > 0 and recent then
      seed_full(i, s)
    end
    return
  end
  local gen = num(redis.call('HGET', state, 'gen'))
  if known > 0 and known ~= gen and recent and not redis.call('HGET', state, 'seeded') then
    seed_full(i, s)
  end
  lo = tonumber(lo)
  if lo >= target then
    return
  end
  local hi = num(redis.call('HGET', state, 'hi'))
  if target > hi then
    redis.call('DEL', ring)
    redis.call('HSET', state, 'lo', f(target), 'R', 0, 'T', 0)
    return
  end
  local dr, dt = 0, 0
  for b = lo, target - 1 do
    dr = dr + num(redis.call('HGET', ring, 'r' .. f(b)))
    dt = dt + num(redis.call('HGET', ring, 't' .. f(b)))
    redis.call('HDEL', ring, 'r' .. f(b), 't' .. f(b))
  end
  redis.call('HINCRBY', state, 'R', f(-dr))
  redis.call('HINCRBY', state, 'T', f(-dt))
  redis.call('HSET', state, 'lo', f(target))
end

-- Earliest time at which `need` more fits under `limit` in the log (field 'r' or 't').
local function log_ready(i, s, field, total, need, limit)
  if total + need <= limit then
    return now
  end
  local state, ring = key(i, 1), key(i, 2)
  local lo = num(redis.call('HGET', state, 'lo'))
  local hi = num(redis.call('HGET', state, 'hi'))
  local freed = 0
  for b = lo, hi do
    freed = freed + num(redis.call('HGET', ring, field .. f(b)))
    if total - freed + need <= limit then
      return math.max((b + 1) * s.bucket + s.span, now)
    end
  end
  return (hi + 1) * s.bucket + s.span
end

-- When a request of `tokens` may go on key i, and why it waits (0 none, 1 cooldown,
-- 2 pacing, 3 requests limit, 4 tokens limit).
local function ready(i, s, tokens)
  local st = redis.call('HMGET', key(i, 1), 'pa', 'tr', 'tt', 'R', 'T')
  local at, why = now, 0
  local function consider(x, w)
    if x > at then
      at, why = x, w
    end
  end
  consider(num(st[1]), 1)
  if s.rpm > 0 then
    consider(num(st[2]) - math.max(s.rtol - s.rcost, 0), 2)
  end
  if s.tpm > 0 then
    consider(num(st[3]) - math.max(s.ttol - token_cost(tokens, s), 0), 2)
  end
  if s.rpm > 0 then
    consider(log_ready(i, s, 'r', num(st[4]), 1, s.rpm), 3)
  end
  if s.tpm > 0 then
    consider(log_ready(i, s, 't', num(st[5]), tokens, s.tpm), 4)
  end
  return at, why
end

-- Books a request of `tokens` on key i at `at` (due at `due`); returns its bucket.
local function book(i, s, tokens, at, due, granularity, keep_ms)
  local state, ring = key(i, 1), key(i, 2)
  local b = math.floor(at / s.bucket)
  local from = math.min(due, at - granularity)
  if s.rpm > 0 then
    redis.call('HINCRBY', ring, 'r' .. f(b), 1)
    redis.call('HINCRBY', state, 'R', 1)
    redis.call('HSET', state, 'tr', f(math.max(num(redis.call('HGET', state, 'tr')), from) + s.rcost))
  end
  if s.tpm > 0 then
    redis.call('HINCRBY', ring, 't' .. f(b), f(tokens))
    redis.call('HINCRBY', state, 'T', f(tokens))
    local cost = token_cost(tokens, s)
    local credit = num(redis.call('HGET', state, 'cr'))
    local spent = math.min(credit, cost)
    redis.call('HSET', state, 'cr', f(credit - spent))
    redis.call('HSET', state, 'tt', f(math.max(num(redis.call('HGET', state, 'tt')), from) + cost - spent))
  end
  if b > num(redis.call('HGET', state, 'hi')) then
    redis.call('HSET', state, 'hi', f(b))
  end
  redis.call('PEXPIRE', state, f(keep_ms))
  redis.call('PEXPIRE', ring, f(keep_ms))
  return b
end

-- Whether caller `who` may take a concurrency slot of key i now (waiters ahead of it first).
local function slot_free(i, s, who)
  local leases, queue, alive = key(i, 3), key(i, 4), key(i, 5)
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', f(now))
  local gone = redis.call('ZRANGEBYSCORE', alive, '-inf', f(now), 'LIMIT', 0, 1000)
  if #gone > 0 then
    redis.call('ZREM', queue, unpack(gone))
    redis.call('ZREM', alive, unpack(gone))
  end
  local free = s.conc - redis.call('ZCARD', leases)
  local rank = redis.call('ZRANK', queue, who)
  if not rank then
    rank = redis.call('ZCARD', queue)
  end
  return rank < free
end

local function leave_queue(i, who)
  redis.call('ZREM', key(i, 4), who)
  redis.call('ZREM', key(i, 5), who)
end

local function specs(n, from)
  local out = {}
  for i = 1, n do
    local o = from + (i - 1) * 8
    out[i] = {
      rpm = num(ARGV[o]), tpm = num(ARGV[o + 1]), conc = num(ARGV[o + 2]), span = num(ARGV[o + 3]),
      bucket = num(ARGV[o + 4]), rcost = num(ARGV[o + 5]), rtol = num(ARGV[o + 6]), ttol = num(ARGV[o + 7]),
    }
  end
  return out
end

if op == 'grant' then
  -- ARGV: n, tokens, max_delay, granularity, lease (us), lease id, caller id, waiter ttl (us),
  -- keep (ms), then n specs, then per key the state generation the caller last saw (0: none)
  -- and 1 if it was granted within the window. Returns {0, delay, bucket per key, generation
  -- per key} granted, {1, hint} waiting for a concurrency slot, {2, wait, why, key} the wait
  -- would pass max_delay (nothing taken).
  local n, tokens = num(ARGV[2]), num(ARGV[3])
  local max_delay, granularity, lease = num(ARGV[4]), num(ARGV[5]), num(ARGV[6])
  local lease_id, who, waiter_ttl, keep_ms = ARGV[7], ARGV[8], num(ARGV[9]), num(ARGV[10])
  local s = specs(n, 11)
  for i = 1, n do
    local o = 11 + n * 8 + (i - 1) * 2
    evict(i, s[i], num(ARGV[o]), ARGV[o + 1] == '1')
  end
  local blocked = false
  for i = 1, n do
    if s[i].conc > 0 and not slot_free(i, s[i], who) then
      blocked = true
    end
  end
  if blocked then
    local hint = 0
    for i = 1, n do
      if s[i].conc > 0 then
        local queue, alive = key(i, 4), key(i, 5)
        if not redis.call('ZSCORE', queue, who) then
          redis.call('ZADD', queue, redis.call('HINCRBY', key(i, 1), 'seq', 1), who)
        end
        redis.call('ZADD', alive, f(now + waiter_ttl), who)
        redis.call('PEXPIRE', queue, f(keep_ms))
        redis.call('PEXPIRE', alive, f(keep_ms))
        local first = redis.call('ZRANGE', key(i, 3), 0, 0, 'WITHSCORES')
        if first[2] and (hint == 0 or num(first[2]) - now < hint) then
          hint = math.max(num(first[2]) - now, 1)
        end
      end
    end
    return {1, hint}
  end
  local at, why, which = now, 0, 0
  for i = 1, n do
    local ready_at, w = ready(i, s[i], tokens)
    if ready_at > at then
      at, why, which = ready_at, w, i
    end
  end
  local go = at
  if at > now and granularity > 0 then
    go = math.ceil(at / granularity) * granularity
  end
  if go - now > max_delay then
    for i = 1, n do
      if s[i].conc > 0 then
        leave_queue(i, who)
      end
    end
    return {2, at - now, why, which}
  end
  local out = {0, go - now}
  for i = 1, n do
    out[i + 2] = book(i, s[i], tokens, go, at, granularity, keep_ms)
    out[n + i + 2] = num(redis.call('HGET', key(i, 1), 'gen'))
    if s[i].conc > 0 then
      redis.call('ZADD', key(i, 3), f(now + lease), lease_id)
      redis.call('PEXPIRE', key(i, 3), f(keep_ms))
      leave_queue(i, who)
    end
  end
  return out
elseif op == 'settle' then
  -- ARGV: n, reserved, actual (-1: keep the estimate), lease id ('' none), channel, then per key
  -- bucket, tpm, span (us), credit cap (us). Returns 1 when a lease was given back.
  local n, reserved, actual = num(ARGV[2]), num(ARGV[3]), num(ARGV[4])
  local lease_id, channel = ARGV[5], ARGV[6]
  local released = 0
  for i = 1, n do
    local o = 7 + (i - 1) * 4
    local b, s = num(ARGV[o]), { tpm = num(ARGV[o + 1]), span = num(ARGV[o + 2]) }
    local cap = num(ARGV[o + 3])
    local state, ring = key(i, 1), key(i, 2)
    if actual >= 0 and actual ~= reserved and s.tpm > 0 then
      if b >= num(redis.call('HGET', state, 'lo')) then
        local had = num(redis.call('HGET', ring, 't' .. f(b)))
        local now_has = math.max(had + actual - reserved, 0)
        if redis.call('HEXISTS', ring, 't' .. f(b)) == 1 then
          redis.call('HSET', ring, 't' .. f(b), f(now_has))
          redis.call('HINCRBY', state, 'T', f(now_has - had))
        end
      end
      local old, new = token_cost(reserved, s), token_cost(actual, s)
      local tat = num(redis.call('HGET', state, 'tt'))
      if new > old then
        redis.call('HSET', state, 'tt', f(math.max(tat, now) + new - old))
      else
        local refund = old - new
        redis.call('HSET', state, 'tt', f(math.max(tat - refund, math.min(now, tat))))
        local left = refund - math.min(math.max(tat - now, 0), refund)
        if left > 0 then
          redis.call('HSET', state, 'cr', f(math.min(num(redis.call('HGET', state, 'cr')) + left, cap)))
        end
      end
    end
    if lease_id ~= '' and redis.call('ZREM', key(i, 3), lease_id) == 1 then
      released = 1
    end
  end
  if released == 1 then
    redis.call('PUBLISH', channel, 'free')
  end
  return released
elseif op == 'pause' then
  -- ARGV: period (us). Pauses the key (KEYS[1] is its state) for every caller.
  local until_at = now + num(ARGV[2])
  if until_at > num(redis.call('HGET', KEYS[1], 'pa')) then
    redis.call('HSET', KEYS[1], 'pa', f(until_at))
  end
  return 1
elseif op == 'renew' then
  -- ARGV: lease (us), then lease ids held in KEYS[1] (a leases zset): their expiry moves on.
  local lease = num(ARGV[2])
  for j = 3, #ARGV do
    redis.call('ZADD', KEYS[1], 'XX', f(now + lease), ARGV[j])
  end
  return 1
end
return redis.error_reply('liter_llm limiter: unknown operation ' .. tostring(op))
