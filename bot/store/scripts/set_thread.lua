-- set_thread.lua: remember the Slack thread of the conversation's open period,
-- and whose thread it is (kept after the period ends: a shortcut used in an
-- earlier thread still finds its contact). Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- KEYS[2]   the partition's thread -> contact hash
-- ARGV[1]   expect {"v": the version read}
-- ARGV[2]   set: the thread
-- ARGV[3]   delete: none ([])
-- ARGV[4]   index moves: none ([])
-- ARGV[5]   the thread's root ts
-- ARGV[6]   the contact's local id
-- Returns {"ok", version} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
return {'ok', version}
