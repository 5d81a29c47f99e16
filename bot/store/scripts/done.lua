-- done.lua: remove a queue entry, but only if it is still the one handled:
-- a newer version enqueued meanwhile (a coalesced update) stays.
--
-- KEYS[1]  the pending hash (entry -> payload)
-- KEYS[2]  the due set (entry, scored by when it was first enqueued)
-- ARGV[1]  the entry
-- ARGV[2]  the payload that was handled
-- Returns 1 when removed, 0 when a newer version is pending.

if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
