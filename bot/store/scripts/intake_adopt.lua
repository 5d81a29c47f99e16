-- intake_adopt.lua: take over submissions whose owner died (its heartbeat lapsed).
-- Only entries still owned by that dead consumer move: two live processes
-- adopting at once never both get one.
--
-- KEYS[1]  the work hash (entry id -> payload)
-- KEYS[2]  the owner hash (entry id -> consumer)
-- KEYS[3]  the tries hash (entry id -> times taken over)
-- ARGV[1]  the adopting consumer
-- ARGV[2]  the most times an entry is taken over; past it, it is dropped
-- ARGV[3..] pairs: entry id, the dead owner seen
-- Returns a flat list: entry id, payload (false: none), tries, dropped (1: past
-- the tries, removed; 0: adopted), ... for each entry still owned by the dead.

local out = {}
for i = 3, #ARGV, 2 do
  local entry, dead = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', KEYS[2], entry) == dead then
    local payload = redis.call('HGET', KEYS[1], entry)
    local tries = redis.call('HINCRBY', KEYS[3], entry, 1)
    if payload and tries <= tonumber(ARGV[2]) then
      redis.call('HSET', KEYS[2], entry, ARGV[1])
      out[#out + 1] = entry
      out[#out + 1] = payload
      out[#out + 1] = tries
      out[#out + 1] = 0
    else
      redis.call('HDEL', KEYS[1], entry)
      redis.call('HDEL', KEYS[2], entry)
      redis.call('HDEL', KEYS[3], entry)
      out[#out + 1] = entry
      out[#out + 1] = payload or false
      out[#out + 1] = tries
      out[#out + 1] = 1
    end
  end
end
return out
