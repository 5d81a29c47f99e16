-- requeue_due.lua: a message whose retry time has come goes back on the outbox
-- stream and leaves the retry schedule, both at once.
--
-- KEYS[1]  the partition's retry schedule
-- KEYS[2]  the partition's outbox stream
-- ARGV[1]  the message id
-- ARGV[2]  the outbox entry's fields, JSON {field: value} ("": the message is
--          gone, nothing to send: it only leaves the schedule)
-- Returns the new entry id, or "" when nothing was queued.

redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] == '' then return '' end
local entry = {}
for field, value in pairs(cjson.decode(ARGV[2])) do
  entry[#entry + 1] = field
  entry[#entry + 1] = tostring(value)
end
return redis.call('XADD', KEYS[2], '*', unpack(entry))
