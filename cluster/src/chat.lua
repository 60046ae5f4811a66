#!lua name=chat

-- The chat's shared state in Redis, changed only by these functions: each checks and
-- changes the state and appends the event to the one stream of events, atomically, so that
-- the order in which nodes apply events is the order in which the state changed (as
-- Centrifuge's broker does with one script per publish).
--
-- Keys, under the cluster prefix P:
--   P:events      stream of events, in the one order every node applies
--   P:names       hash: name key (case-folded) -> member ("NODE/CONN")
--   P:members     hash: member -> "ROOM\nNAME\nKEY\nQUIET" (QUIET '1': its join notice
--                 was withheld, and so is its leave notice)
--   P:counts      hash: room -> members
--   P:auto        counter behind automatic names (user0, user1, ...)
--   P:ids         the last line id given
--   P:nodes       sorted set: node -> end of its lease (ms, Redis's clock)
--   P:epoch       this incarnation of the state (new when Redis lost it): Redis's clock
--   P:seq         the last event's sequence number in this epoch
--   P:node:NODE   set of the node's members (found by the reaper; built from P here)
--   P:h:ROOM      stream of the room's lines, by id ("ID-1"), capped; each line's field k
--                 counts the room's lines ever kept, so a range's length is a subtraction
--   P:k:ROOM      the room's lines ever kept
--
-- P:node:* and P:h:* are built from the prefix inside the functions: this is for one Redis
-- server (or a replica set), not Redis Cluster.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The state's epoch, created if Redis has none (it started empty, or lost its data).
local function epoch(prefix)
  local e = redis.call('GET', prefix .. ':epoch')
  if e then return e, false end
  -- Redis's clock to the microsecond: a state created after a loss never has the epoch of
  -- the one that was lost (a counter kept in Redis would be lost with it).
  local t = redis.call('TIME')
  e = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
  redis.call('SET', prefix .. ':epoch', e)
  return e, true
end

-- Appends an event. Each carries its epoch and a sequence number that rises by one per
-- event within the epoch, so a reader can tell events it missed (the stream trimmed past
-- where it was) from a new state (another epoch).
local function event(prefix, maxlen, ...)
  local e = epoch(prefix)
  local seq = redis.call('INCR', prefix .. ':seq')
  return redis.call('XADD', prefix .. ':events', 'MAXLEN', '~', maxlen, '*',
    'ep', e, 'seq', seq, ...)
end

-- A change refused by the state: its event tells the member's node in its place in the
-- order (after everything the member heard before).
local function refuse(prefix, maxlen, member, why, what)
  return event(prefix, maxlen, 't', 'refused', 'm', member, 'why', why, 'x', what)
end

local function node_of(member)
  return string.match(member, '^(.-)/')
end

local function entry(prefix, member)
  local v = redis.call('HGET', prefix .. ':members', member)
  if not v then return nil end
  local room, name, key, quiet = string.match(v, '^(.-)\n(.-)\n(.-)\n(.*)$')
  return {room = room, name = name, key = key, quiet = quiet}
end

local function set_entry(prefix, member, room, name, key, quiet)
  redis.call('HSET', prefix .. ':members', member,
    room .. '\n' .. name .. '\n' .. key .. '\n' .. quiet)
end

-- The last line id given: a joiner's replay covers the lines up to it, later ones reach it
-- live.
local function last_line(prefix)
  return redis.call('GET', prefix .. ':ids') or '0'
end

-- Removes a member and appends its leave (why: 'closed', 'node', 'elsewhere' or
-- 'kicked', with who kicked and why in `by` and `reason`); returns the event's id, or
-- false if unknown.
local function leave(prefix, maxlen, member, reason, by, because)
  local e = entry(prefix, member)
  if not e then return false end
  if redis.call('HGET', prefix .. ':names', e.key) == member then
    redis.call('HDEL', prefix .. ':names', e.key)
  end
  redis.call('HDEL', prefix .. ':members', member)
  redis.call('SREM', prefix .. ':node:' .. node_of(member), member)
  local count = redis.call('HINCRBY', prefix .. ':counts', e.room, -1)
  if count <= 0 then redis.call('HDEL', prefix .. ':counts', e.room) end
  return event(prefix, maxlen, 't', 'leave', 'm', member, 'n', e.name, 'r', e.room,
    'count', count, 'why', reason, 'q', e.quiet, 'by', by or '', 'reason', because or '')
end

-- join(prefix, maxlen, member, room, wanted key or '', wanted name or '', quiet ('1': no
--   join notice), again ('1': registered again after Redis lost the state), signed ('1':
--   the name is the member's token's: whoever else has it leaves, 'elsewhere'))
--   -> {event id, name, taken ('1': the wanted name was taken), members of the room},
--   or nil for a member already joined.
-- The wanted name if it is free, else the next free automatic name. No function raises an
-- error on any input a node sends, so that one call cannot fail a whole pipeline.
redis.register_function('chat_join', function(_, a)
  local prefix, maxlen, member, room, key, name = a[1], a[2], a[3], a[4], a[5], a[6]
  local quiet, again, signed = a[7] or '0', a[8] or '0', a[9] or '0'
  if entry(prefix, member) then return false end
  if signed == '1' and key ~= '' then
    local holder = redis.call('HGET', prefix .. ':names', key)
    if holder and holder ~= member then leave(prefix, maxlen, holder, 'elsewhere') end
  end
  local taken = '0'
  if key == '' or redis.call('HEXISTS', prefix .. ':names', key) == 1 then
    if key ~= '' then taken = '1' end
    repeat
      name = 'user' .. (redis.call('INCR', prefix .. ':auto') - 1)
      key = name
    until redis.call('HEXISTS', prefix .. ':names', key) == 0
  end
  redis.call('HSET', prefix .. ':names', key, member)
  set_entry(prefix, member, room, name, key, quiet)
  redis.call('SADD', prefix .. ':node:' .. node_of(member), member)
  local count = redis.call('HINCRBY', prefix .. ':counts', room, 1)
  local id = event(prefix, maxlen, 't', 'join', 'm', member, 'n', name, 'r', room,
    'count', count, 'taken', taken, 'q', quiet, 'again', again, 'line', last_line(prefix))
  return {id, name, taken, count}
end)

-- leave(prefix, maxlen, member, reason) -> event id, or nil for a member not joined.
redis.register_function('chat_leave', function(_, a)
  return leave(a[1], a[2], a[3], a[4])
end)

-- move(prefix, maxlen, member, room, quiet ('1': no join notice in the new room))
--   -> {event id, members of the new room}, or nil when the member is not joined or
--   already in that room. The leave notice is withheld if the join notice was.
redis.register_function('chat_move', function(_, a)
  local prefix, maxlen, member, room, quiet = a[1], a[2], a[3], a[4], a[5] or '0'
  local e = entry(prefix, member)
  if not e then return false end
  if e.room == room then
    refuse(prefix, maxlen, member, 'already_in_room', room)
    return false
  end
  local left = redis.call('HINCRBY', prefix .. ':counts', e.room, -1)
  if left <= 0 then redis.call('HDEL', prefix .. ':counts', e.room) end
  local count = redis.call('HINCRBY', prefix .. ':counts', room, 1)
  set_entry(prefix, member, room, e.name, e.key, quiet)
  local id = event(prefix, maxlen, 't', 'move', 'm', member, 'n', e.name, 'from', e.room,
    'left', left, 'r', room, 'count', count, 'ql', e.quiet, 'q', quiet,
    'line', last_line(prefix))
  return {id, count}
end)

-- rename(prefix, maxlen, member, new key, new name) -> event id, '' when the name is
-- taken by someone else or is exactly the current one (a change of case is a rename), or
-- nil for a member not joined.
redis.register_function('chat_rename', function(_, a)
  local prefix, maxlen, member, key, name = a[1], a[2], a[3], a[4], a[5]
  local e = entry(prefix, member)
  if not e then return false end
  local holder = redis.call('HGET', prefix .. ':names', key)
  if (holder and holder ~= member) or name == e.name then
    refuse(prefix, maxlen, member, 'name_taken', name)
    return ''
  end
  if key ~= e.key then
    redis.call('HDEL', prefix .. ':names', e.key)
    redis.call('HSET', prefix .. ':names', key, member)
  end
  set_entry(prefix, member, e.room, name, key, e.quiet)
  return event(prefix, maxlen, 't', 'rename', 'm', member, 'old', e.name, 'n', name,
    'r', e.room)
end)

-- say(prefix, maxlen, member, room (unused: the member's room), text, action ('1'/'0'), ts,
--   id floor, retain) -> {event id, line id}, or nil when the member is not joined.
-- Line ids never go backwards: the counter is first raised to the highest id the node has
-- seen, so ids continue above them even after Redis lost its data.
redis.register_function('chat_say', function(_, a)
  local prefix, maxlen, member, room = a[1], a[2], a[3], a[4]
  local text, action, ts, floor, retain = a[5], a[6], a[7], tonumber(a[8]), tonumber(a[9])
  local e = entry(prefix, member)
  if not e then return false end
  -- The member's room in the order (a move proposed just before is already applied).
  room = e.room
  local ids = prefix .. ':ids'
  if floor > tonumber(redis.call('GET', ids) or '0') then redis.call('SET', ids, floor) end
  local line = redis.call('INCR', ids)
  if retain > 0 then
    local k = redis.call('INCR', prefix .. ':k:' .. room)
    redis.call('XADD', prefix .. ':h:' .. room, 'MAXLEN', retain, line .. '-1',
      'n', e.name, 'x', text, 'a', action, 'ts', ts, 'k', k)
  end
  local id = event(prefix, maxlen, 't', 'say', 'id', line, 'm', member, 'n', e.name,
    'r', room, 'x', text, 'a', action, 'ts', ts)
  return {id, line}
end)

-- whisper(prefix, maxlen, member, recipient's name key, text, ts, the name as typed)
--   -> event id, '' when nobody has that name, or nil for a sender not joined.
-- Whispers are ordered with everything else but never kept in history.
redis.register_function('chat_whisper', function(_, a)
  local prefix, maxlen, member, key, text, ts = a[1], a[2], a[3], a[4], a[5], a[6] or '0'
  local from = entry(prefix, member)
  if not from then return false end
  local to = redis.call('HGET', prefix .. ':names', key)
  if not to then
    refuse(prefix, maxlen, member, 'no_such_user', a[7] or key)
    return ''
  end
  local recipient = entry(prefix, to)
  return event(prefix, maxlen, 't', 'whisper', 'm', member, 'n', from.name, 'to', to,
    'tn', recipient.name, 'x', text, 'ts', ts)
end)

-- kick(prefix, maxlen, admin member, admin's name, target's name key, name as typed,
--   reason or '') -> the leave's event id, or '' when nobody has that name (refused), or
--   nil for an admin not joined. Whether the member may kick is its node's to check (the
--   token is there).
redis.register_function('chat_kick', function(_, a)
  local prefix, maxlen, member, by, key, typed, because = a[1], a[2], a[3], a[4], a[5], a[6], a[7]
  if not entry(prefix, member) then return false end
  local target = redis.call('HGET', prefix .. ':names', key)
  if not target then
    refuse(prefix, maxlen, member, 'no_such_user', typed)
    return ''
  end
  return leave(prefix, maxlen, target, 'kicked', by, because)
end)

-- sync(prefix, maxlen, member, question) -> event id, or nil for a member not joined.
-- Changes nothing: the member's node answers the question (/users, /rooms) when it
-- applies this event, so the answer shows every change ordered before it.
redis.register_function('chat_sync', function(_, a)
  local prefix, maxlen, member, question = a[1], a[2], a[3], a[4]
  if not entry(prefix, member) then return false end
  return event(prefix, maxlen, 't', 'sync', 'm', member, 'q', question)
end)

-- snapshot(prefix) -> {epoch, seq, last event id ('0-0' for none), last line id,
--   member, entry, member, entry, ...}: the whole state at one point of the stream, for a
--   node that starts (or starts again) to read on from there.
redis.register_function('chat_snapshot', function(_, a)
  local prefix = a[1]
  local e = epoch(prefix)
  local seq = redis.call('GET', prefix .. ':seq') or '0'
  local newest = redis.call('XREVRANGE', prefix .. ':events', '+', '-', 'COUNT', 1)
  local after = '0-0'
  if newest[1] then after = newest[1][1] end
  local out = {e, seq, after, last_line(prefix)}
  local all = redis.call('HGETALL', prefix .. ':members')
  for i = 1, #all do out[#out + 1] = all[i] end
  return out
end)

-- lease(prefix, maxlen, node, ttl ms, epoch the node knows or '') -> {status, epoch, now ms}
--   status 'ok': the lease runs to now + ttl;
--   'new': the node registered (epoch ''), or Redis lost the state (no epoch, or another
--          one): a new epoch is set if needed and the node must register its users again;
--   'lost': the state is the one the node knew, but its lease ran out and the others gave
--          it up: it must close its connections and join afresh.
redis.register_function('chat_lease', function(_, a)
  local prefix, node, ttl, known = a[1], a[3], tonumber(a[4]), a[5]
  local now = now_ms()
  local current = epoch(prefix)
  local status = 'ok'
  if current ~= known then
    status = 'new'
  elseif not redis.call('ZSCORE', prefix .. ':nodes', node) then
    return {'lost', current, now}
  end
  redis.call('ZADD', prefix .. ':nodes', now + ttl, node)
  return {status, current, now}
end)

-- reap(prefix, maxlen) -> nodes given up: every node whose lease has ended loses its
-- members (each one's leave goes on the stream, as for any leave).
redis.register_function('chat_reap', function(_, a)
  local prefix, maxlen = a[1], a[2]
  local dead = redis.call('ZRANGEBYSCORE', prefix .. ':nodes', '-inf', now_ms())
  for _, node in ipairs(dead) do
    local set = prefix .. ':node:' .. node
    local members = redis.call('SMEMBERS', set)
    table.sort(members)
    for _, member in ipairs(members) do leave(prefix, maxlen, member, 'node') end
    redis.call('DEL', set)
    redis.call('ZREM', prefix .. ':nodes', node)
    event(prefix, maxlen, 't', 'gone', 'node', node)
  end
  return #dead
end)

-- beat(prefix, maxlen, node) -> event id: a heartbeat through the stream, by which a node
-- knows that its reading connection still delivers.
redis.register_function('chat_beat', function(_, a)
  return event(a[1], a[2], 't', 'beat', 'node', a[3])
end)
