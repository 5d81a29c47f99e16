-- intake_finish.lua: forget a submission once it was worked (its seen marker
-- stays, so a late Slack retry of it is still not taken again).
--
-- KEYS[1]  the work hash (entry id -> payload)
-- KEYS[2]  the owner hash (entry id -> consumer)
-- KEYS[3]  the tries hash (entry id -> adoptions)
-- ARGV[1]  the entry id
-- Returns the number of fields removed.

return redis.call('HDEL', KEYS[1], ARGV[1])
  + redis.call('HDEL', KEYS[2], ARGV[1])
  + redis.call('HDEL', KEYS[3], ARGV[1])
