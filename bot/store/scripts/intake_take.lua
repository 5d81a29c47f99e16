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
-- ARGV[5]  this call's token, kept in the seen marker: the same call sent again
--          (the connection's retry after its answer was lost) finds it there
--          and is answered as taken, which it was
-- Returns 1 when taken, 0 when it was taken before.

if not redis.call('SET', KEYS[1], ARGV[5], 'NX', 'EX', ARGV[4]) then
  if redis.call('GET', KEYS[1]) == ARGV[5] then return 1 end
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 1
