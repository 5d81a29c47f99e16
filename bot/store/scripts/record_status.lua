-- record_status.lua: move a message to its next status, if its status is still
-- the one the move was decided from (`status_may_advance`, in Python).
--
-- KEYS[1]  the message hash
-- ARGV[1]  the status field's name
-- ARGV[2]  the status the move was decided from
-- ARGV[3]  the fields to write, JSON {field: value} (the new status among them)
-- Returns 1 when written, 0 when the message is gone or moved meanwhile.

if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
local fields = {}
for field, value in pairs(cjson.decode(ARGV[3])) do
  fields[#fields + 1] = field
  fields[#fields + 1] = tostring(value)
end
redis.call('HSET', KEYS[1], unpack(fields))
return 1
