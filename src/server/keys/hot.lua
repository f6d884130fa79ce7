-- liter_llm proxy: one virtual key's hot counters, shared by every replica through Redis. Each
-- admission, settlement, lease renewal and change of the budget period is one call of this
-- script, atomic on the server and timed by its clock (TIME).
--
-- KEYS[1] hash: spend (USD settled this budget period), reserved (USD held by requests in
--               flight), reset (Unix seconds the period ends; absent: no period),
--               rs/ts (requests/tokens counted in the minute window), o (oldest second still
--               counted), r:<s>/t:<s> (requests/tokens of second s), c:<lease> ("cost tokens s"
--               of a request in flight)
-- KEYS[2] zset: lease id -> expiry (ms); every request in flight holds one, renewed by its
--               replica, so a replica that dies gives its requests' reservations back.
--
-- ARGV[1] is the operation; its arguments follow. Amounts of USD travel as decimal text; an
-- admission answers {code, detail, detail, rolled} as text, rolled being the new end of the
-- budget period when this call started one.

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_s = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h, l = KEYS[1], KEYS[2]
local op = ARGV[1]
local WINDOW = 60

local function num(v)
  return tonumber(v) or 0
end

-- Exact digits for Redis (Lua's own conversion may round large integers).
local function int(x)
  return string.format('%.0f', x)
end

local function usd(x)
  return string.format('%.17g', x)
end

local function keep(ms)
  redis.call('PEXPIRE', h, ms)
  redis.call('PEXPIRE', l, ms)
end

-- Ends a request's hold: its reservation given back; returns what it reserved (cost, tokens,
-- second), or nil when it holds nothing (expired and already given back).
local function release(lease)
  local rec = redis.call('HGET', h, 'c:' .. lease)
  redis.call('ZREM', l, lease)
  if not rec then
    return nil
  end
  redis.call('HDEL', h, 'c:' .. lease)
  local cost, tokens, s = string.match(rec, '^(%S+) (%S+) (%S+)$')
  cost, tokens, s = num(cost), num(tokens), num(s)
  local reserved = num(redis.call('HGET', h, 'reserved')) - cost
  if reserved < 1e-12 then
    reserved = 0
  end
  redis.call('HSET', h, 'reserved', usd(reserved))
  return cost, tokens, s
end

-- Leases past their expiry: their replica is gone; their reservations come back.
local function expire_leases()
  local dead = redis.call('ZRANGEBYSCORE', l, '-inf', now_ms)
  for _, lease in ipairs(dead) do
    release(lease)
  end
end

-- Drops the seconds that have left the minute window from the totals.
local function expire_window(sec)
  local o = redis.call('HGET', h, 'o')
  if not o then
    redis.call('HSET', h, 'o', int(sec))
    return
  end
  o = num(o)
  local last = math.min(sec - WINDOW, o + WINDOW)
  if last < o then
    return
  end
  local rs, ts = num(redis.call('HGET', h, 'rs')), num(redis.call('HGET', h, 'ts'))
  for s = o, last do
    local r, tk = redis.call('HGET', h, 'r:' .. int(s)), redis.call('HGET', h, 't:' .. int(s))
    if r then
      rs = rs - num(r)
      ts = ts - num(tk)
      redis.call('HDEL', h, 'r:' .. int(s), 't:' .. int(s))
    end
  end
  redis.call('HSET', h, 'rs', int(math.max(rs, 0)), 'ts', int(math.max(ts, 0)), 'o', int(sec - WINDOW + 1))
end

-- Milliseconds until `need` more of field `part` (r or t) fit under `limit`.
local function wait_for(sec, part, total, need, limit)
  local o = num(redis.call('HGET', h, 'o'))
  local freed = 0
  for s = o, sec do
    freed = freed + num(redis.call('HGET', h, part .. ':' .. int(s)))
    if total - freed + need <= limit then
      return math.max((s + WINDOW) * 1000 - now_ms, 1)
    end
  end
  return WINDOW * 1000
end

if op == 'admit' then
  -- lease, lease_ms, cost, tokens, max_budget, max_parallel, rpm, tpm (-1: none), period (s,
  -- -1: none), keep_ms
  local lease, lease_ms = ARGV[2], num(ARGV[3])
  local cost, tokens = num(ARGV[4]), num(ARGV[5])
  local budget, parallel, rpm, tpm = num(ARGV[6]), num(ARGV[7]), num(ARGV[8]), num(ARGV[9])
  local period, keep_ms = num(ARGV[10]), num(ARGV[11])
  if not redis.call('HGET', h, 'spend') then
    return {'9', '', '', ''}
  end
  expire_leases()
  local spend = num(redis.call('HGET', h, 'spend'))
  local rolled = ''
  local reset = redis.call('HGET', h, 'reset')
  if reset and period > 0 and now_s >= num(reset) then
    -- Whole periods from the last reset, so a key unused for a while keeps its schedule.
    local at = num(reset)
    local next = at + period * math.floor((now_s - at) / period) + period
    spend = 0
    rolled = usd(next)
    redis.call('HSET', h, 'spend', '0', 'reset', rolled)
  end
  local reserved = num(redis.call('HGET', h, 'reserved'))
  if budget >= 0 and spend + reserved >= budget then
    return {'1', usd(spend), usd(reserved), rolled}
  end
  if parallel >= 0 and redis.call('ZCARD', l) >= parallel then
    return {'2', '1000', '', rolled}
  end
  local sec = math.floor(now_ms / 1000)
  if rpm >= 0 or tpm >= 0 then
    expire_window(sec)
    local rs, ts = num(redis.call('HGET', h, 'rs')), num(redis.call('HGET', h, 'ts'))
    if tpm >= 0 and tokens > tpm then
      tokens = tpm
    end
    if rpm >= 0 and rs + 1 > rpm then
      return {'3', int(wait_for(sec, 'r', rs, 1, rpm)), 'requests per minute', rolled}
    end
    if tpm >= 0 and ts + tokens > tpm then
      return {'3', int(wait_for(sec, 't', ts, tokens, tpm)), 'tokens per minute', rolled}
    end
    redis.call('HINCRBY', h, 'r:' .. int(sec), 1)
    redis.call('HINCRBY', h, 't:' .. int(sec), int(tokens))
    redis.call('HINCRBY', h, 'rs', 1)
    redis.call('HINCRBY', h, 'ts', int(tokens))
  else
    tokens = 0
  end
  redis.call('HSET', h, 'reserved', usd(reserved + cost), 'c:' .. lease, usd(cost) .. ' ' .. int(tokens) .. ' ' .. int(sec))
  redis.call('ZADD', l, now_ms + lease_ms, lease)
  keep(keep_ms)
  return {'0', '', '', rolled}
elseif op == 'seed' then
  -- spend, reset ('' for none), keep_ms: the key's state as the database has it, unless a
  -- replica seeded it first.
  if redis.call('HSETNX', h, 'spend', ARGV[2]) == 1 and ARGV[3] ~= '' then
    redis.call('HSET', h, 'reset', ARGV[3])
  end
  keep(num(ARGV[4]))
  return 0
elseif op == 'settle' then
  -- lease, cost (USD), tokens (-1: keep the estimate), keep_ms; answers when the budget period
  -- the spend counts in ends ('' for none)
  local cost, tokens = num(ARGV[3]), num(ARGV[4])
  local _, reserved_tokens, s = release(ARGV[2])
  if reserved_tokens and tokens >= 0 and redis.call('HEXISTS', h, 't:' .. int(s)) == 1 then
    local delta = tokens - reserved_tokens
    local total = num(redis.call('HGET', h, 'ts'))
    if total + delta < 0 then
      delta = -total
    end
    redis.call('HINCRBY', h, 't:' .. int(s), int(delta))
    redis.call('HINCRBY', h, 'ts', int(delta))
  end
  if cost > 0 and redis.call('HEXISTS', h, 'spend') == 1 then
    redis.call('HINCRBYFLOAT', h, 'spend', usd(cost))
  end
  keep(num(ARGV[5]))
  return redis.call('HGET', h, 'reset') or ''
elseif op == 'renew' then
  -- lease_ms, lease ids...: leases still held (renewed only if they still exist).
  local until_ms = now_ms + num(ARGV[2])
  local renewed = 0
  for i = 3, #ARGV do
    renewed = renewed + redis.call('ZADD', l, 'XX', 'CH', until_ms, ARGV[i])
  end
  return renewed
elseif op == 'period' then
  -- reset ('' for none): a new budget period set by an admin.
  if ARGV[2] == '' then
    redis.call('HDEL', h, 'reset')
  else
    redis.call('HSET', h, 'reset', ARGV[2])
  end
  return 0
elseif op == 'read' then
  -- The spend (with the period rolled if it is over: nothing written) and requests in flight.
  expire_leases()
  local spend = redis.call('HGET', h, 'spend')
  local reset = redis.call('HGET', h, 'reset')
  local period = num(ARGV[2])
  if spend and reset and period > 0 and now_s >= num(reset) then
    spend = '0'
  end
  return {spend or '', tostring(redis.call('ZCARD', l))}
end
return redis.error_reply('liter_llm key counters: unknown operation ' .. tostring(op))
