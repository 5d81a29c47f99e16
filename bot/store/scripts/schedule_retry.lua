-- schedule_retry.lua: a send that failed for now is scheduled again and its
-- outbox entry acknowledged, together: the entry is neither lost nor left
-- pending to be sent twice.
--
-- KEYS[1]  the partition's retry schedule
-- KEYS[2]  the partition's outbox stream
-- KEYS[3]  the message's send lease
-- ARGV[1]  when the retry is due (epoch s)
-- ARGV[2]  the message id
-- ARGV[3]  the relay's consumer group
-- ARGV[4]  the outbox entry id
-- Returns 1.

redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('XACK', KEYS[2], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[2], ARGV[4])
redis.call('DEL', KEYS[3])
return 1
