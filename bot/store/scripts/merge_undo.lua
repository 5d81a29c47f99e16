-- merge_undo.lua: a merge that cannot finish (an identity clash, the survivor
-- gone): the merged contact stays itself. A merge step. Uses lib/contact.lua.
--
-- KEYS[1]   the merged contact's hash
-- KEYS[2]   its partition's `merging` set
-- ARGV[1]   expect {"v": the version read}
-- ARGV[2]   set: none ({})
-- ARGV[3]   delete: merged into, merge state
-- ARGV[4]   index moves: out of `merging` (lib/contact.lua)
-- Returns {"ok", version} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect, true)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {'ok', version}
