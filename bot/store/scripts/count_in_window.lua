-- count_in_window.lua: count a WeChat message in the window it is sent in, as
-- it is sent (`windows.count_at_send`), if that window is still the current one
-- and its count is under the policy's limit; the message records the window (a
-- retry is counted once). `li:wechat` is the window start, `wc`/`wcw` the count
-- and the window it counts (contact_codec.py); `mg` merged into.
--
-- KEYS[1]  the contact hash
-- KEYS[2]  the message hash (absent when the contact moved to another slot by
--          a merge: the message then keeps its old window)
-- ARGV[1]  the window start (epoch s)
-- ARGV[2]  the limit ("": none)
-- ARGV[3]  the message field that records the window
-- Returns {"ok"}, {"limit", count} or {"moved"} (the customer wrote again,
-- the contact is gone or was merged: decide again).

local contact = KEYS[1]
if redis.call('HGET', contact, 'mg') or redis.call('EXISTS', contact) == 0 then
  return {'moved'}
end
if redis.call('HGET', contact, 'li:wechat') ~= ARGV[1] then return {'moved'} end
local count = 0
if redis.call('HGET', contact, 'wcw') == ARGV[1] then
  count = tonumber(redis.call('HGET', contact, 'wc') or '0')
end
if ARGV[2] ~= '' and count >= tonumber(ARGV[2]) then return {'limit', tostring(count)} end
redis.call('HSET', contact, 'wc', count + 1, 'wcw', ARGV[1])
redis.call('HINCRBY', contact, 'v', 1)
if KEYS[2] then redis.call('HSET', KEYS[2], ARGV[3], ARGV[1]) end
return {'ok'}
