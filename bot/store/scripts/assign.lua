-- assign.lua: commit `conversations.assign`: a new assignee (or none), the
-- status unchanged. Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- KEYS[2..] the sets the contact moves in: the old and new assignees' inboxes,
--           the partition's open-and-assigned set
-- ARGV[1]   expect {"v": the version the transition was decided from}
-- ARGV[2]   set: the assignee
-- ARGV[3]   delete: the assignee, when unassigned
-- ARGV[4]   index moves (lib/contact.lua)
-- Returns {"ok", version} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {"ok", version}
