-- intake_take.lua: take an agent's submission, once, before Slack gets its ack.
-- A submission already taken (a Slack retry, a re-run: the same entry id,
-- derived from Slack's own identifiers) is not taken again.
--
-- KEYS[1]  the entry's seen marker
-- KEYS[2]  the work hash (entry id -> payload)
-- KEYS[3]  the owner hash (entry id -> consumer)
-- ARGV[1]  the entry id
-- ARGV[2]  the payload (JSON)
-- ARGV[3]  the consumer taking it (who works it)
-- ARGV[4]  seconds the seen marker lasts
-- Returns 1 when taken, 0 when it was taken before.

if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[4]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 1
