-- intake_settle.lua: find out what became of a take whose answer was lost
-- (the connection dropped: the script may or may not have run), and settle it.
-- Not taken: it is marked seen now, so the lost call can never take it later.
--
-- KEYS[1]  the entry's seen marker
-- KEYS[2]  the owner hash (entry id -> consumer)
-- ARGV[1]  the entry id
-- ARGV[2]  the consumer that tried to take it
-- ARGV[3]  seconds the seen marker lasts
-- Returns 'refused' (it was never taken: nothing was or will be done),
-- 'ours' (taken by the lost call: still ours to work), or 'elsewhere'
-- (taken, and worked or being worked by another call or process).

if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) then return 'refused' end
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then return 'ours' end
return 'elsewhere'
