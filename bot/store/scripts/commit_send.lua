-- commit_send.lua: record an agent's follow-up and queue it for the relay, if
-- the conversation is still as the window policy saw it: the same window start
-- on the channel, the same status and assignee (and, for WeChat, the window's
-- count under the policy's limit). Sending opens a closed conversation and
-- assigns it to the sender (`conversations.send`). Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- KEYS[2]   the message hash (must not exist: the idempotency key)
-- KEYS[3]   the partition's outbox stream
-- KEYS[4]   the contact's recent messages list
-- KEYS[5..] the sets the contact moves in when the send reopens it
-- ARGV[1]   expect: the channel's window start (false: none yet), status, assignee
-- ARGV[2]   set: what reopening sets ({} when it is open and the sender's)
-- ARGV[3]   delete: what reopening removes
-- ARGV[4]   index moves (lib/contact.lua)
-- ARGV[5]   the message hash's fields, JSON {field: value}
-- ARGV[6]   the outbox entry's fields, JSON {field: value}
-- ARGV[7]   the message id (joins the recent messages list)
-- ARGV[8]   how many recent messages the list keeps
-- ARGV[9]   the WeChat window (epoch s of its start, or "") the message counts in
-- ARGV[10]  the WeChat limit for that window ("": the message is not counted)
-- Returns {"ok", version, outbox entry id}, {"duplicate"}, {"limit", count}
-- or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'duplicate'} end
local counted = false
if ARGV[10] ~= '' then
  -- `wc` counts the messages of the window `wcw` starts (contact_codec.py).
  local count = 0
  if redis.call('HGET', KEYS[1], 'wcw') == ARGV[9] then
    count = tonumber(redis.call('HGET', KEYS[1], 'wc') or '0')
  end
  if count >= tonumber(ARGV[10]) then return {'limit', tostring(count)} end
  redis.call('HSET', KEYS[1], 'wc', count + 1, 'wcw', ARGV[9])
  counted = true
end
local version = write_record(KEYS[1], set, delete, counted)
move_index(index)
local fields = {}
for field, value in pairs(cjson.decode(ARGV[5])) do
  fields[#fields + 1] = field
  fields[#fields + 1] = tostring(value)
end
redis.call('HSET', KEYS[2], unpack(fields))
local entry = {}
for field, value in pairs(cjson.decode(ARGV[6])) do
  entry[#entry + 1] = field
  entry[#entry + 1] = tostring(value)
end
local entry_id = redis.call('XADD', KEYS[3], '*', unpack(entry))
redis.call('LPUSH', KEYS[4], ARGV[7])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[8]) - 1)
return {'ok', version, entry_id}
