-- schedule_move.lua: change a waiting item's time (Send now, Edit), and its
-- payload when given; with no time, only the payload (a message waiting for
-- the customer keeps waiting). An item already taken for doing is not changed.
--
-- KEYS[1]  the item hash
-- KEYS[2]  the partition's due set
-- KEYS[3]  the partition's listing
-- KEYS[4]  the agent's listing in the partition (the item's own agent)
-- ARGV[1]  the item id
-- ARGV[2]  the new due epoch ms, or "" to keep the time
-- ARGV[3]  the new due time as stored in the hash
-- ARGV[4]  the new payload, or "" to keep it
-- Returns 1 when moved, 0 when it is running, -1 when there is no such item.

local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return -1
end
if state == 'running' then
  return 0
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'payload', ARGV[4])
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'due_at', ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
  redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
end
return 1
