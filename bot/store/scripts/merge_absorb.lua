-- merge_absorb.lua: step 2 of a merge (bot/store/merge.py): the survivor takes
-- the merged contact's identities, details, windows and, when its own is
-- closed, its open conversation and thread; it records the merged contact and
-- the version absorbed, so the step is done once. Uses lib/contact.lua.
--
-- KEYS[1]   the survivor's hash
-- KEYS[2]   the partition's thread -> contact hash
-- KEYS[3..] the index buckets and sets the survivor moves in
-- ARGV[1]   expect {"v": the survivor's version read}
-- ARGV[2]   set: what the survivor takes, and `mf` (merged from)
-- ARGV[3]   delete: closing reason and time when it takes an open conversation
-- ARGV[4]   index moves (lib/contact.lua)
-- ARGV[5]   the thread the survivor takes ("": none)
-- ARGV[6]   the survivor's local id
-- Returns {"ok", version}, {"taken", member} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
move_index(index)
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], ARGV[5], ARGV[6]) end
return {'ok', version}
