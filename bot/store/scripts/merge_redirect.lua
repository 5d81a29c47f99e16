-- merge_redirect.lua: the survivor of a pending merge was itself merged away:
-- the merged contact now merges into that one's survivor. A merge step.
-- Uses lib/contact.lua.
--
-- KEYS[1]   the merged contact's hash
-- ARGV[1]   expect {"v": the version read}
-- ARGV[2]   set: merged into (the onward survivor)
-- ARGV[3]   delete: none ([])
-- ARGV[4]   index moves: none ([])
-- Returns {"ok", version} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect, true)
if refused then return refused end
return {'ok', write_record(KEYS[1], set, delete)}
