-- merge_tombstone.lua: step 3 of a merge (bot/store/merge.py): the merged
-- contact leaves the indexes and sets; its hash stays as a redirect to the
-- survivor. A merge step: allowed on a contact marked merged. Uses lib/contact.lua.
--
-- KEYS[1]   the merged contact's hash
-- KEYS[2..] the index buckets and sets it leaves, and its partition's `merging`
-- ARGV[1]   expect {"v": the version the merge read}
-- ARGV[2]   set: merge state done
-- ARGV[3]   delete: none ([])
-- ARGV[4]   index moves: every ZREM (lib/contact.lua)
-- Returns {"ok", version} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect, true)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {'ok', version}
