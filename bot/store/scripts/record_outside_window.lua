-- record_outside_window.lua: record a follow-up the window rules refused (❗,
-- never relayed), once per idempotency key; the conversation is untouched
-- (SPEC: such a send counts toward no limit, changes no status or assignee).
--
-- KEYS[1]  the contact hash (must exist)
-- KEYS[2]  the message hash (must not exist: the idempotency key)
-- KEYS[3]  the contact's recent messages list
-- ARGV[1]  the message hash's fields, JSON {field: value}
-- ARGV[2]  the message id
-- ARGV[3]  how many recent messages the list keeps
-- Returns {"ok"}, {"missing"} or {"duplicate"}.

if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'duplicate'} end
local fields = {}
for field, value in pairs(cjson.decode(ARGV[1])) do
  fields[#fields + 1] = field
  fields[#fields + 1] = tostring(value)
end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
return {'ok'}
