-- finish_batch.lua: record the outcomes of a batch of sends, acknowledge and
-- delete their outbox entries and give back their send leases.
-- A status is written only if the message's status now is one it may advance
-- from: Python passes that set (`status_may_advance`), the script holds no rule.
-- Every key is in the partition's slot.
--
-- KEYS[1]            the partition's outbox stream
-- KEYS[2i, 2i+1]     entry i's message hash and send lease
-- ARGV[1]  the consumer group
-- ARGV[2]  the consumer (a lease is deleted only while it is still ours)
-- ARGV[3]  JSON: {"status_field": the message's status field,
--                 "history_field": its history field ("status:epoch|..."),
--                 "advance": {status: [statuses it may follow]},
--                 "entries": [[stream id, status, "status:epoch", {field: value}]]}
--          (the field names are `bot.store.codec.MessageHash`'s)
-- Returns, per entry, the status the message had, prefixed "+" when the new
-- one was written and "-" when not; "" when the message is gone.

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local spec = cjson.decode(ARGV[3])
local status_field, history_field = spec.status_field, spec.history_field
local may_follow = {}
for status, from in pairs(spec.advance) do
  local set = {}
  for _, previous in ipairs(from) do set[previous] = true end
  may_follow[status] = set
end
local out = {}

for i, entry in ipairs(spec.entries) do
  local message, lease = KEYS[2 * i], KEYS[2 * i + 1]
  local entry_id, status, stamp, fields = entry[1], entry[2], entry[3], entry[4]
  local current = redis.call('HGET', message, status_field)
  if not current then
    out[i] = ''
  elseif may_follow[status] and may_follow[status][current] then
    local history = redis.call('HGET', message, history_field)
    if history and history ~= '' then history = history .. '|' .. stamp else history = stamp end
    local args = {status_field, status, history_field, history}
    for field, value in pairs(fields) do
      args[#args + 1] = field
      args[#args + 1] = tostring(value)
    end
    redis.call('HSET', message, unpack(args))
    out[i] = '+' .. current
  else
    out[i] = '-' .. current
  end
  redis.call('XACK', stream, group, entry_id)
  redis.call('XDEL', stream, entry_id)
  if redis.call('GET', lease) == consumer then redis.call('DEL', lease) end
end
return out
