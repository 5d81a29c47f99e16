-- schedule_reply.lua: the customer wrote. Their messages waiting for it become
-- due at once, ahead of anything due later (score 0: the claim takes the
-- lowest scores first), and their reminders ("if no reply") are cancelled.
-- Only items made before the customer's message are touched: a channel that
-- delivers an old message again must not cancel a reminder set since.
--
-- KEYS[1]  the contact's item set
-- KEYS[2]  the partition's due set
-- KEYS[3]  the partition's listing
-- ARGV[1]  the prefix of the partition's item hashes (id appended)
-- ARGV[2]  the prefix of the partition's agent listings (agent appended)
-- ARGV[3]  now, as stored in the hash (the released items' due time)
-- ARGV[4]  now, epoch ms (the released items' place in the listings)
-- ARGV[5]  when the customer wrote, epoch ms
-- Returns {released ids, cancelled ids}.

local released, cancelled = {}, {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. id
  local item = redis.call('HMGET', key, 'kind', 'state', 'agent', 'created_ms')
  local kind, state, agent = item[1], item[2], item[3]
  if not kind then
    redis.call('SREM', KEYS[1], id)
  elseif tonumber(item[4] or '0') >= tonumber(ARGV[5]) then
    -- made after the customer's message: not an answer to it
  elseif kind == 'when_they_write' and state == 'waiting' then
    redis.call('HSET', key, 'state', 'pending', 'due_at', ARGV[3])
    redis.call('ZADD', KEYS[2], 0, id)
    redis.call('ZADD', KEYS[3], ARGV[4], id)
    redis.call('ZADD', ARGV[2] .. agent, ARGV[4], id)
    released[#released + 1] = id
  elseif kind == 'remind' and state ~= 'running' then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', ARGV[2] .. agent, id)
    redis.call('SREM', KEYS[1], id)
    cancelled[#cancelled + 1] = id
  end
end
return {released, cancelled}
