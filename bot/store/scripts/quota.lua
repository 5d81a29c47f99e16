-- quota.lua: reserve or release units of an account-wide counter (the Viber
-- monthly chatbot-initiated quota). The limit comes from the window policy.
--
-- KEYS[1]  the counter (one calendar month)
-- ARGV[1]  units: positive to reserve, negative to release
-- ARGV[2]  limit: the counter must stay <= limit after a reservation ("" = none)
-- ARGV[3]  seconds to keep the counter after its last change
-- Returns the new count, or -1 when the reservation would pass the limit.

local units = tonumber(ARGV[1])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if units > 0 and ARGV[2] ~= '' and count + units > tonumber(ARGV[2]) then
  return -1
end
if count + units < 0 then units = -count end
count = redis.call('INCRBY', KEYS[1], units)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return count
