-- merge_intent.lua: step 1 of a merge (bot/store/merge.py): mark the merged
-- contact; from here every script but a merge step refuses it ({"merged"}).
-- A contact merged elsewhere meanwhile keeps that merge. Uses lib/contact.lua.
--
-- KEYS[1]   the merged contact's hash
-- KEYS[2]   its partition's `merging` set
-- ARGV[1]   expect {"v": the version read}
-- ARGV[2]   set: merged into (the survivor), merge state pending
-- ARGV[3]   delete: none ([])
-- ARGV[4]   index moves: the contact joins `merging` (lib/contact.lua)
-- Returns {"ok", version}, {"merged", where it went} or a refusal.

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {'ok', version}
